#pragma once
// The Python that runs peers, plots and checks (never a user's run): the project's .venv,
// whose torch wheel Strata was built against (docs/building.md, "LibTorch").

#include <string>

namespace strata {

// $STRATA_PYTHON when set; otherwise the interpreter CMake found LibTorch through
// (STRATA_PYTHON at configure time, an absolute path, by default <source>/.venv/bin/python).
// Never throws; the caller reports a failure to start it.
std::string python_program();

}  // namespace strata
