#include "orchestrator/color.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace baton {

bool use_color(const std::string& mode, int fd) {
  if (mode == "always") return true;
  if (mode == "never") return false;
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color && *no_color) return false;
  const char* term = std::getenv("TERM");
  if (term && std::strcmp(term, "dumb") == 0) return false;
  return ::isatty(fd) != 0;
}

}  // namespace baton
