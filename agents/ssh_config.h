// The few OpenSSH client settings libssh does not read itself
// (ConnectionAttempts), looked up the way ssh(1) does: the first value
// found for the host wins, Host and Match blocks, Include.
#pragma once
#include <optional>
#include <string>
#include <vector>

namespace baton {

// The ssh_config files ssh(1) would read: `file` alone when given (~
// expanded), else ~/.ssh/config then /etc/ssh/ssh_config; none for "none".
std::vector<std::string> ssh_config_files(const std::string& file);

// ConnectionAttempts for `host` (the name as given, before HostName) in
// `files`, or nothing when no block that applies sets it. Unreadable files
// are skipped. Match blocks other than `Match all` and `Match host ...` are
// taken as not matching.
std::optional<int> ssh_config_connection_attempts(const std::vector<std::string>& files,
                                                  const std::string& host);

// The first value of `key` (any case: "Port", "User") for `host` in
// `files`, as ConnectionAttempts above.
std::optional<std::string> ssh_config_value(const std::vector<std::string>& files, const std::string& host,
                                            const std::string& key);

// OpenSSH pattern-list matching: "a*,!b?c" (comma-separated, * and ?, a
// leading ! negates and wins). True when some positive pattern matches and
// no negated one does.
bool ssh_pattern_list_matches(const std::string& list, const std::string& host);

}  // namespace baton
