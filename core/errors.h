#pragma once
// Errors that Strata reports to its user.
//
// An InputError is the user's to fix (a config key, an argument, a data file, a damaged
// checkpoint). The program prints its message as one line and exits with status 2.
// Anything else is a Strata or library failure and exits with status 1.

#include <stdexcept>
#include <string>

namespace strata {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitBadInput = 2;

}  // namespace strata
