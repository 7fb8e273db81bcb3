#include "orchestrator/host_command.h"

#include <cstdio>

#include "agents/shell.h"

namespace baton {
namespace {

// "1.250": seconds as sleep(1) takes them.
std::string seconds_text(Millis d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld.%03lld", static_cast<long long>(d.count() / 1000),
                static_cast<long long>(d.count() % 1000));
  return buf;
}

std::string first_line(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  std::string l = s.substr(b, s.find('\n', b) - b);
  return l.size() > 80 ? l.substr(0, 77) + "..." : l;
}

// Runs BATON_RUN_AS_SCRIPT as the user baton_as: directly when the login
// already is that user, else through sudo, never asking for a password.
// The script goes on sudo's stdin (sudo resets the environment and would
// show a command line to `ps`); the user's shell reads it whole first.
constexpr const char* kRunAs = R"SH(
if [ "$(id -un)" = "$baton_as" ]; then
  baton_as=$BATON_RUN_AS_SCRIPT; unset BATON_RUN_AS_SCRIPT; eval "$baton_as"; exit
fi
if ! command -v sudo >/dev/null 2>&1; then
  echo "baton: run_as = \"$baton_as\": sudo is not installed on $(hostname), and the SSH user is $(id -un); install sudo or log in as $baton_as" >&2
  exit 126
fi
if ! sudo -n -u "$baton_as" /bin/sh -c : 2>/dev/null; then
  echo "baton: run_as = \"$baton_as\": sudo -n -u $baton_as would ask $(id -un) for a password on $(hostname) (or is not allowed); allow it without one (sudoers: $(id -un) ALL=($baton_as) NOPASSWD: /bin/sh) or log in as $baton_as" >&2
  exit 126
fi
printf '%s' "$BATON_RUN_AS_SCRIPT" | sudo -n -u "$baton_as" /bin/sh -c 'baton_script=$(cat) || exit 126; exec </dev/null; eval "$baton_script"'
)SH";

}  // namespace

std::string wait_script(const Wait& w) {
  const std::string within = format_duration(w.within);
  return "baton_until=" + shell_quote(w.until) + "\nbaton_t0=$(date +%s%3N) baton_n=0\n" +
         "while :; do\n"
         "  baton_n=$((baton_n + 1))\n"
         "  if baton_out=$(eval \"$baton_until\" 2>&1); then\n"
         "    [ -z \"$baton_out\" ] || printf '%s\\n' \"$baton_out\"\n"
         "    exit 0\n"
         "  else baton_rc=$?; fi\n"
         "  if [ $(( $(date +%s%3N) - baton_t0 )) -ge " + std::to_string(w.within.count()) + " ]; then\n"
         "    [ -z \"$baton_out\" ] || printf '%s\\n' \"$baton_out\" | tail -n 5 >&2\n"
         "    echo \"baton: wait: not true within " + within + " ($baton_n tries, the last exit code $baton_rc): \"" +
         shell_quote(first_line(w.until)) + " >&2\n"
         "    exit 124\n"
         "  fi\n"
         "  sleep " + seconds_text(w.every) + "\n"
         "done\n";
}

std::string step_script(const Step& s) {
  if (!s.wait) return s.run;
  if (s.run.empty()) return wait_script(*s.wait);
  // The run first, in its own shell: its `exit` must not skip the wait.
  return "(\n" + s.run + "\n) || exit\n" + wait_script(*s.wait);
}

Command host_command(const Runbook& rb, const Host& h, const std::string& script, Vars vars,
                     const std::optional<std::string>& run_as) {
  Command c;
  c.secret_names = rb.secret_names;
  const std::string body = rb.prelude.empty() ? script : rb.prelude + "\n" + script;
  const std::string user = run_as.value_or(h.run_as);
  if (user.empty()) {
    c.script = body;
    c.vars = std::move(vars);
    return c;
  }
  // The other user's shell gets the values inside the script it reads.
  std::string inner = var_assignments(vars) + body;
  c.vars = std::move(vars);
  c.vars.emplace_back("BATON_RUN_AS_SCRIPT", std::move(inner));
  c.secret_names.insert("BATON_RUN_AS_SCRIPT");  // It holds every value: stdin, never a command line.
  c.script = "baton_as=" + shell_quote(user) + kRunAs;
  return c;
}

}  // namespace baton
