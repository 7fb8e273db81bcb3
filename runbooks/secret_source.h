// Values that do not live in the runbook: { env = "NAME" } reads the
// orchestrator's environment, { file = "PATH" } a file only its owner, the
// operator, may read.
#pragma once
#include <optional>
#include <string>

namespace baton {

// The value of environment variable `name`; nullopt and *why when unset.
std::optional<std::string> value_from_env(const std::string& name, std::string* why);

// The bytes of `path` without one trailing newline. `path` may start with
// "~/" (the operator's home); a relative one is relative to `base_dir`.
// Refused (nullopt, *why says what to do): not a regular file, not owned
// by the operator, readable or writable by group or others, unreadable.
std::optional<std::string> value_from_file(const std::string& path, const std::string& base_dir,
                                           std::string* why);

}  // namespace baton
