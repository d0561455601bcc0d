# Helpers shared by every Strata target: warnings, and a precompiled torch header for
# the units that use tensors (ENVIRONMENT.md, "Build time").

set(STRATA_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wno-sign-compare)

# strata_library(NAME TORCH|NOTORCH SOURCES...)
function(strata_library name kind)
  add_library(${name} STATIC ${ARGN})
  target_compile_options(${name} PRIVATE ${STRATA_WARNINGS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  if(kind STREQUAL "TORCH")
    target_link_libraries(${name} PUBLIC ${TORCH_LIBRARIES})
    target_precompile_headers(${name} PRIVATE <torch/torch.h>)
  endif()
endfunction()

function(strata_executable name)
  add_executable(${name} ${ARGN})
  target_compile_options(${name} PRIVATE ${STRATA_WARNINGS})
  target_precompile_headers(${name} PRIVATE <torch/torch.h>)
endfunction()
