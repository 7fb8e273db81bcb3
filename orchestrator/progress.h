// How a run shows itself: progress lines for a person, or JSON lines.
#pragma once
#include <cstdio>

#include "orchestrator/events.h"

namespace baton {

class TerminalProgress : public EventSink {
 public:
  TerminalProgress(std::FILE* out, bool color) : out_(out), color_(color) {}
  void emit(const RunEvent& e) override;

 private:
  std::FILE* out_;
  bool color_;
};

class JsonLines : public EventSink {
 public:
  explicit JsonLines(std::FILE* out) : out_(out) {}
  void emit(const RunEvent& e) override;

 private:
  std::FILE* out_;
};

}  // namespace baton
