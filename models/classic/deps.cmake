# Stage 1 and 2 libraries (docs/building.md, "Packages"), linked into strata_models:
# libsvm and liblinear (the engines behind scikit-learn's SVC and LinearSVC), XGBoost
# (boosted trees and random forests, through its C API) and muParser (rule conditions).
# muParser ships a CMake package. XGBoost's (libxgboost-dev) also names the `xgboost`
# command-line program, which lives in another package, so find_package(xgboost) fails
# without it; the library and header are found directly, as for libsvm and liblinear.
find_package(muparser REQUIRED)
find_library(STRATA_XGBOOST xgboost REQUIRED)
find_path(STRATA_XGBOOST_INCLUDE xgboost/c_api.h REQUIRED)
find_library(STRATA_LIBSVM svm REQUIRED)
find_path(STRATA_LIBSVM_INCLUDE libsvm/svm.h REQUIRED)
find_library(STRATA_LIBLINEAR linear REQUIRED)
find_path(STRATA_LIBLINEAR_INCLUDE linear.h REQUIRED)
target_include_directories(strata_models PRIVATE ${STRATA_LIBSVM_INCLUDE} ${STRATA_LIBLINEAR_INCLUDE}
                           ${STRATA_XGBOOST_INCLUDE})
target_link_libraries(strata_models PUBLIC ${STRATA_XGBOOST} muparser::muparser
                      ${STRATA_LIBSVM} ${STRATA_LIBLINEAR})
