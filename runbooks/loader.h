// Loads a TOML runbook and validates all of it before anything runs.
#pragma once
#include <string>
#include <vector>

#include "runbooks/model.h"

namespace baton {

struct Diagnostic {
  std::string file;
  Location where;
  std::string message;

  // "FILE:LINE:COL: message"
  std::string str() const;
};

struct LoadResult {
  Runbook runbook;
  std::vector<Diagnostic> errors;  // every mistake, in file order
  bool ok() const { return errors.empty(); }
};

// read_values false: values from { env } and { file } are not read (they
// are empty), for verbs that run nothing (history, report, graph, plan).
LoadResult load_runbook_file(const std::string& path, bool read_values = true);
// For tests: `path` only names the file in messages (and is where a
// relative { file = ... } is looked for).
LoadResult load_runbook_text(const std::string& text, const std::string& path, bool read_values = true);

// Does `on` name a role, role.host, site or site.host of this runbook?
// Returns an error message, empty when fine.
std::string check_target(const Runbook& rb, const std::string& on);

}  // namespace baton
