#pragma once
// Maps `type:` names from configs to factories.
//
// Registration is explicit (a `register_*` function per library, called by the program),
// not by static initialisers a linker may drop. An unknown name lists the valid ones.

#include <fmt/format.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/errors.h"

namespace strata {

template <class Signature>
class Registry;

template <class Product, class... Args>
class Registry<Product(Args...)> {
 public:
  using Factory = std::function<Product(Args...)>;

  explicit Registry(std::string what) : what_(std::move(what)) {}

  void add(const std::string& name, Factory factory) { factories_[name] = std::move(factory); }
  bool contains(const std::string& name) const { return factories_.count(name) > 0; }

  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [name, _] : factories_) out.push_back(name);
    return out;
  }

  // Builds `name`; an unknown name is an InputError that says where it came from.
  Product make(const std::string& name, const std::string& where, Args... args) const {
    auto it = factories_.find(name);
    if (it == factories_.end()) {
      std::string valid;
      for (const auto& n : names()) valid += (valid.empty() ? "" : ", ") + n;
      std::string hint = config::closest(name, names());
      throw InputError(fmt::format("{}: unknown {} '{}'{}; valid: {}", where, what_, name,
                                   hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                                   valid));
    }
    return it->second(std::forward<Args>(args)...);
  }

 private:
  std::string what_;
  std::map<std::string, Factory> factories_;
};

}  // namespace strata
