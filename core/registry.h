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

  void add(const std::string& name, Factory factory) {
    if (!contains(name)) order_.push_back(name);
    factories_[name] = std::move(factory);
  }
  bool contains(const std::string& name) const { return factories_.count(name) > 0; }

  // In the order they were added.
  const std::vector<std::string>& names() const { return order_; }

  // Builds `name`; an unknown name is an InputError that says where it came from (when
  // `where` is not empty), the nearest valid name and all of them.
  Product make(const std::string& name, const std::string& where, Args... args) const {
    auto it = factories_.find(name);
    if (it == factories_.end()) {
      std::string valid;
      for (const auto& n : names()) valid += (valid.empty() ? "" : ", ") + n;
      std::string hint = config::closest(name, names());
      throw InputError(fmt::format("{}unknown {} '{}'{}; valid: {}",
                                   where.empty() ? "" : where + ": ", what_, name,
                                   hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", hint),
                                   valid));
    }
    return it->second(std::forward<Args>(args)...);
  }

 private:
  std::string what_;
  std::map<std::string, Factory> factories_;
  std::vector<std::string> order_;
};

// A model family's named sizes ("debug", "gpt2", ...): a registry whose products are the
// family's Options. get() of an unknown name is the registry's InputError ("unknown gpt
// size 'gtp2' (did you mean 'gpt2'?); valid: ...").
template <class Options>
class NamedSizes : public Registry<Options()> {
 public:
  NamedSizes(const std::string& family, std::vector<std::pair<std::string, Options>> sizes)
      : Registry<Options()>(family + " size") {
    for (auto& [name, options] : sizes) this->add(name, [options] { return options; });
  }
  Options get(const std::string& name, const std::string& where = "") const {
    return this->make(name, where);
  }
  // A model section's `size:` (default `default_name`) as Options for the section's other
  // keys to override; `type:` is left to whoever picked the family.
  Options read(config::Reader& r, const std::string& default_name) const {
    r.skip("type");
    std::string size = default_name;
    r.read_choice("size", size, this->names());
    return get(size);
  }
};

}  // namespace strata
