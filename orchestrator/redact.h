// Secrets never reach logs or reports: values of variables whose names say
// they are secret (password, secret, token, ...) are masked in event text.
#pragma once
#include <string>
#include <vector>

#include "agents/agent.h"
#include "agents/shell.h"  // is_secret_name

namespace baton {

class Redactor {
 public:
  // Remembers the secret values among these variables.
  void learn(const Vars& vars);
  std::string apply(std::string text) const;
  bool empty() const { return secrets_.empty(); }

 private:
  std::vector<std::string> secrets_;
};

}  // namespace baton
