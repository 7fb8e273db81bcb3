// How a run shows itself: progress lines for a person, or JSON lines.
#pragma once
#include <cstdio>
#include <string>

#include "orchestrator/events.h"

namespace baton {

// Text from commands, made safe for a terminal: control characters other
// than newline and tab are shown as \xNN, so output cannot move the cursor,
// set the title or write the clipboard, and invalid UTF-8 becomes U+FFFD.
std::string visible(const std::string& text);

class TerminalProgress : public EventSink {
 public:
  // `color`: escape sequences allowed (orchestrator/color.h decides).
  // `live`: a terminal, where the step running now is shown while it runs
  // (cleared with an escape when `color`, else overwritten with spaces).
  TerminalProgress(std::FILE* out, bool color, bool live = false) : out_(out), color_(color), live_(live) {}
  void emit(const RunEvent& e) override;

 private:
  void clear_live();
  void finished_line(const RunEvent& e);
  void step_line(const RunEvent& e);
  std::FILE* out_;
  bool color_;
  bool live_;
  size_t live_width_ = 0;  // a "running" line of this many bytes waits to be replaced
};

class JsonLines : public EventSink {
 public:
  explicit JsonLines(std::FILE* out) : out_(out) {}
  void emit(const RunEvent& e) override;

 private:
  std::FILE* out_;
};

}  // namespace baton
