# Helpers shared by every Strata target: warnings, and a precompiled torch header for
# the units that use tensors (docs/building.md, "Build time").

set(STRATA_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare)
# As LibTorch is built: math functions need not set errno, so loops over sqrt vectorize.
set(STRATA_CXX_FLAGS -fno-math-errno)

# One OpenMP runtime in the process: the wheel's own libgomp.so.1 (torch/lib). Debian's
# libxgboost and liblinear ask for the same soname, so the loader hands them the copy that
# is already loaded; they need at most GOMP_4.5, which it has (docs/building.md, "Threads
# and OpenMP"). Strata's own parallel loops are compiled with -fopenmp against it.
function(strata_openmp_runtime out)
  find_file(_wheel_gomp libgomp.so.1 PATHS ${TORCH_INSTALL_PREFIX}/lib NO_DEFAULT_PATH NO_CACHE)
  if(_wheel_gomp)
    set(${out} ${_wheel_gomp} PARENT_SCOPE)
  else()
    set(${out} OpenMP::OpenMP_CXX PARENT_SCOPE)
  endif()
endfunction()

# The wheel ships fmt 12 headers in its include directory, which would shadow Debian's
# fmt 9 (whose library Strata links). A directory holding only a link to the found fmt's
# headers, searched before the wheel's, keeps them first for Strata's units and c10d's alike.
# Called once fmt is found.
function(strata_fmt_first)
  get_target_property(_fmt_include fmt::fmt INTERFACE_INCLUDE_DIRECTORIES)
  list(GET _fmt_include 0 _fmt_include)
  if(NOT EXISTS ${_fmt_include}/fmt/format.h)
    message(FATAL_ERROR "Strata: no fmt/format.h under fmt's include directory '${_fmt_include}'")
  endif()
  set(dir ${PROJECT_BINARY_DIR}/fmt-first)
  file(MAKE_DIRECTORY ${dir})
  file(CREATE_LINK ${_fmt_include}/fmt ${dir}/fmt SYMBOLIC)
  set(STRATA_FMT_FIRST ${dir} PARENT_SCOPE)
endfunction()

function(strata_torch_flags name scope)
  strata_openmp_runtime(openmp_lib)
  target_include_directories(${name} BEFORE ${scope} ${STRATA_FMT_FIRST})
  target_compile_options(${name} ${scope} $<$<COMPILE_LANGUAGE:CXX>:-fopenmp>)
  target_link_libraries(${name} ${scope} ${TORCH_LIBRARIES} ${openmp_lib})
endfunction()

# One precompiled <torch/torch.h> for every target: strata_core builds it (about a minute
# of one core with the 2.14 headers) and the others reuse it, which needs the same flags
# that matter to GCC's PCH check: every unit is compiled with -fPIC (executables too, with
# no -fPIE of CMake's), -fopenmp, the same warnings and the same standard.
# strata_library(NAME TORCH|NOTORCH SOURCES...)
function(strata_library name kind)
  add_library(${name} STATIC ${ARGN})
  target_compile_options(${name} PRIVATE ${STRATA_WARNINGS} ${STRATA_CXX_FLAGS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  if(kind STREQUAL "TORCH")
    strata_torch_flags(${name} PUBLIC)
    if(name STREQUAL "strata_core")
      target_precompile_headers(${name} PRIVATE <torch/torch.h>)
    else()
      target_precompile_headers(${name} REUSE_FROM strata_core)
    endif()
  endif()
endfunction()

function(strata_executable name)
  add_executable(${name} ${ARGN})
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
  target_compile_options(${name} PRIVATE ${STRATA_WARNINGS} ${STRATA_CXX_FLAGS} -fPIC)
  target_precompile_headers(${name} REUSE_FROM strata_core)
endfunction()
