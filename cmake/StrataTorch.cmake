# Finds LibTorch 2.x inside a torch wheel (docs/building.md, "LibTorch").
#
# Where: Torch_DIR or CMAKE_PREFIX_PATH when given; otherwise the wheel of STRATA_PYTHON
# (default: the project's .venv, made by scripts/bootstrap.sh; on a GPU machine, its own
# python3), asked through torch.utils.cmake_prefix_path.
#
# A CUDA wheel needs a CUDA compiler and the toolkit's headers at configure time (Caffe2's
# public/cuda.cmake), even though Strata compiles no CUDA code of its own. The wheel's
# nvidia-* wheels bring the libraries that a bare toolkit (nvcc, cudart) lacks, nvrtc
# among them, so they are searched too.

if(EXISTS ${PROJECT_SOURCE_DIR}/.venv/bin/python)
  set(_strata_default_python ${PROJECT_SOURCE_DIR}/.venv/bin/python)
else()
  set(_strata_default_python python3)
endif()
set(STRATA_PYTHON ${_strata_default_python} CACHE FILEPATH
    "Python whose torch wheel provides LibTorch (and runs the peers and checks)")

# Never pick up a system MKL: the wheel carries its own BLAS (LIBTORCH2.md, section 1).
set(CMAKE_DISABLE_FIND_PACKAGE_MKL TRUE)

# Asked on every configure (it takes a second), so a reconfigure sets up CUDA the same way.
execute_process(
    COMMAND ${STRATA_PYTHON} -c
      "import torch, os; print(torch.utils.cmake_prefix_path); print(torch.__version__); print(torch.version.cuda or 'none'); print(os.path.dirname(os.path.dirname(torch.__file__)))"
    OUTPUT_VARIABLE _strata_torch_info OUTPUT_STRIP_TRAILING_WHITESPACE
    ERROR_QUIET RESULT_VARIABLE _strata_torch_rc)
if(NOT _strata_torch_rc EQUAL 0)
  message(FATAL_ERROR "Strata: '${STRATA_PYTHON}' cannot import torch. Run "
                      "scripts/bootstrap.sh (it makes .venv), or pass -DSTRATA_PYTHON=... "
                      "or -DTorch_DIR=...")
endif()
string(REPLACE "\n" ";" _strata_torch_info "${_strata_torch_info}")
list(GET _strata_torch_info 0 _strata_torch_prefix)
list(GET _strata_torch_info 1 STRATA_TORCH_VERSION)
list(GET _strata_torch_info 2 STRATA_TORCH_CUDA)
if(STRATA_TORCH_CUDA STREQUAL "none")
  set(STRATA_TORCH_CUDA "")
endif()
list(GET _strata_torch_info 3 STRATA_SITE_PACKAGES)
list(APPEND CMAKE_PREFIX_PATH ${_strata_torch_prefix})
message(STATUS "Strata: torch ${STRATA_TORCH_VERSION} (CUDA '${STRATA_TORCH_CUDA}') from ${STRATA_PYTHON}")

# The CUDA side of a CUDA wheel, set up before find_package(Torch) reads it.
if(STRATA_TORCH_CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    find_program(_strata_nvcc nvcc HINTS $ENV{CUDA_HOME}/bin /usr/local/cuda/bin NO_CACHE)
    if(_strata_nvcc)
      # /usr/local/bin/nvcc may be a wrapper script: the toolkit is where the real one is.
      get_filename_component(_strata_nvcc ${_strata_nvcc} REALPATH)
      if(EXISTS /usr/local/cuda/bin/nvcc AND NOT _strata_nvcc MATCHES "^/usr/local/cuda")
        set(_strata_nvcc /usr/local/cuda/bin/nvcc)
      endif()
      set(CMAKE_CUDA_COMPILER ${_strata_nvcc})
    endif()
  endif()
  # The toolkit is the one nvcc belongs to. A cached root without the runtime's headers
  # (e.g. /usr/local, from a wrapper nvcc) is replaced, so a reconfigure heals itself.
  if(CMAKE_CUDA_COMPILER)
    get_filename_component(_strata_cuda_bin ${CMAKE_CUDA_COMPILER} DIRECTORY)
    get_filename_component(_strata_cuda_root ${_strata_cuda_bin} DIRECTORY)
    if(NOT EXISTS "${CUDA_TOOLKIT_ROOT_DIR}/include/cuda_runtime.h")
      set(CUDA_TOOLKIT_ROOT_DIR ${_strata_cuda_root} CACHE PATH "CUDA toolkit (nvcc's)" FORCE)
      set(CUDA_NVCC_EXECUTABLE ${CMAKE_CUDA_COMPILER} CACHE FILEPATH "nvcc" FORCE)
      unset(CUDA_TOOLKIT_INCLUDE CACHE)
      unset(CUDA_CUDART_LIBRARY CACHE)
    endif()
  endif()
  # No CUDA sources here: Caffe2's probe only needs a dialect nvcc and CMake 3.25 agree on,
  # and an architecture list, so that it does not try to run a program on a GPU.
  if(NOT CMAKE_CUDA_STANDARD)
    set(CMAKE_CUDA_STANDARD 17)
  endif()
  if(NOT TORCH_CUDA_ARCH_LIST AND NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST})
    set(TORCH_CUDA_ARCH_LIST "9.0")
  endif()
  string(REGEX REPLACE "\\.[0-9]+$" "" _strata_cuda_major "${STRATA_TORCH_CUDA}")
  set(_strata_nvidia_lib ${STRATA_SITE_PACKAGES}/nvidia/cu${_strata_cuda_major}/lib)
  if(NOT CUDA_nvrtc_LIBRARY)
    find_library(CUDA_nvrtc_LIBRARY NAMES nvrtc libnvrtc.so.${_strata_cuda_major}
                 HINTS ${CUDA_TOOLKIT_ROOT_DIR}/lib64 ${_strata_nvidia_lib})
  endif()
  if(EXISTS ${_strata_nvidia_lib})
    # libtorch_cuda's own NEEDED entries (cublas, cusparse, ...) live in the nvidia wheels.
    add_link_options(LINKER:-rpath-link,${_strata_nvidia_lib})
  endif()
endif()

find_package(Torch REQUIRED)
if(Torch_VERSION VERSION_LESS 2.11)
  message(FATAL_ERROR "Strata needs LibTorch 2.11 or newer; found ${Torch_VERSION} in ${Torch_DIR}")
endif()
