# Helpers shared by every Strata target: warnings, and a precompiled torch header for
# the units that use tensors (docs/building.md, "Build time").

set(STRATA_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare)
# As LibTorch is built: math functions need not set errno, so loops over sqrt vectorize.
set(STRATA_CXX_FLAGS -fno-math-errno)

# strata_library(NAME TORCH|NOTORCH SOURCES...)
function(strata_library name kind)
  add_library(${name} STATIC ${ARGN})
  target_compile_options(${name} PRIVATE ${STRATA_WARNINGS} ${STRATA_CXX_FLAGS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  if(kind STREQUAL "TORCH")
    # OpenMP as LibTorch was built with it (libgomp), so that at::parallel_for in Strata's
    # own code runs on the intra-op threads, each op inside it single-threaded.
    target_link_libraries(${name} PUBLIC ${TORCH_LIBRARIES} OpenMP::OpenMP_CXX)
    target_precompile_headers(${name} PRIVATE <torch/torch.h>)
  endif()
endfunction()

function(strata_executable name)
  add_executable(${name} ${ARGN})
  target_compile_options(${name} PRIVATE ${STRATA_WARNINGS} ${STRATA_CXX_FLAGS})
  target_precompile_headers(${name} PRIVATE <torch/torch.h>)
endfunction()
