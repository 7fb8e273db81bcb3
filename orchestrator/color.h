// The one switch for colour and cursor control on a terminal.
#pragma once
#include <string>

namespace baton {

// Whether output to file descriptor `fd` may carry escape sequences.
// `mode` is the --color value: "always" (yes, even under NO_COLOR: the flag
// is the more specific wish), "never", or "auto": yes only when `fd` is a
// terminal, NO_COLOR is unset or empty (no-color.org), and TERM is not "dumb".
bool use_color(const std::string& mode, int fd);

}  // namespace baton
