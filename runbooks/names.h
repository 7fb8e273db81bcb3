// Names Baton checks in runbooks and trusts in commands, and how it
// suggests the name that was meant.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace baton {

// Is `name` a valid shell variable name ([A-Za-z_][A-Za-z0-9_]*)?
bool valid_var_name(std::string_view name);

// Names a runbook must not give a variable or a capture, because the
// shell, the dynamic loader or libc read them (PATH, IFS, LD_PRELOAD, ...),
// or Baton sets them (BATON_*). Returns what reads it ("the dynamic
// loader"), or "" when the name is free. Case matters: "path" is free.
std::string reserved_var_name(std::string_view name);

// The reserved names; a prefix shows as "LD_*". For documentation.
const std::vector<std::string>& reserved_var_names();

// Does the name say the value is a secret (pass, secret, token,
// credential, private, apikey, api_key, in any case)?
bool is_secret_name(const std::string& var_name);

// Optimal string alignment distance: a swapped pair ("retires") costs one.
size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word`, only when close enough to be a typo
// (distance 1 for names up to 4 characters, else 2); "" otherwise.
std::string nearest(std::string_view word, const std::vector<std::string>& candidates);

}  // namespace baton
