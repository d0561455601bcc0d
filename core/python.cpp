#include "core/python.h"

#include <cstdlib>

#ifndef STRATA_PYTHON_DEFAULT
#define STRATA_PYTHON_DEFAULT "python3"
#endif

namespace strata {

std::string python_program() {
  const char* python = std::getenv("STRATA_PYTHON");
  return python != nullptr && *python != '\0' ? python : STRATA_PYTHON_DEFAULT;
}

}  // namespace strata
