// Durations as runbooks write them: "250ms", "30s", "2m", "1h30m".
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace baton {

using Millis = std::chrono::milliseconds;

std::optional<Millis> parse_duration(std::string_view s);
// Short human form: "850 ms", "4.2 s", "3m 05s".
std::string format_duration(Millis d);

}  // namespace baton
