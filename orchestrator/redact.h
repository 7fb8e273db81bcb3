// Secrets never reach the terminal, JSON, journals or reports: the values
// of secret variables and captures are masked as *** in every text Baton
// shows or stores, before any of it is cut to a tail.
//
// Rules (docs/runbook.md, "Secrets"):
// - a value is secret when its variable's name says so (is_secret_name),
//   or the runbook declares it (secret = true, { env }, { file });
// - a multi-line value is masked whole, and each of its lines of four or
//   more characters on its own, so part of a key or certificate is masked
//   too;
// - values of four or more characters are masked wherever they appear, and
//   so is the head of one that the output cap cut (before its marker);
//   shorter ones (1 to 3 characters) only where they stand as a whole word,
//   so that a one-letter secret does not blank every such letter.
#pragma once
#include <set>
#include <string>
#include <vector>

#include "agents/agent.h"
#include "agents/shell.h"  // is_secret_name

namespace baton {

class Redactor {
 public:
  // Remembers the secret values among these variables.
  void learn(const Vars& vars);
  // Also those whose names are in `declared` (secret = true, env, file).
  void learn(const Vars& vars, const std::set<std::string>& declared);
  // Remembers one value as secret, whatever its name.
  void learn_value(const std::string& value);
  std::string apply(std::string text) const;
  bool empty() const { return long_.empty() && short_.empty(); }

 private:
  std::vector<std::string> long_;   // masked anywhere, longest first
  std::vector<std::string> short_;  // masked as whole words
};

}  // namespace baton
