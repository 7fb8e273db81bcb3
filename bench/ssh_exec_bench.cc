// 200 trivial steps (`true`) on one SSH host: Baton's whole run against a
// plain libssh loop doing the same 200 execs on one session, side by side.
//
//   ssh_exec_bench [--rounds N] [--steps N] [--baton PATH] [--state-in DIR] [--no-runner] [--keep]
//
// Starts a real sshd on 127.0.0.1 (tests/sshd_fixture), writes a runbook of
// N `run = "true"` steps on the target host, then alternates R rounds of
//   (a) `baton switchover RUNBOOK --state-dir FRESH --json > /dev/null`
//       (fork/exec, wall time from fork to exit), and
//   (b) an in-process libssh loop: connect + host key check + publickey auth,
//       then N x (open channel, exec "true", read to EOF, exit status, close).
// Both include exactly one connect. One unmeasured warm-up round first; the
// order within a round alternates. Prints medians, min..max, client CPU per
// step and the ratio of the medians.
// Exit 0 whatever the ratio; nonzero only if something failed.
#include <fcntl.h>
#include <libssh/libssh.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/sshd_fixture.h"

#ifndef BATON_BINARY
#define BATON_BINARY "baton"
#endif

namespace {

using Clock = std::chrono::steady_clock;

double cpu_ms(const rusage& u) {
  return u.ru_utime.tv_sec * 1e3 + u.ru_utime.tv_usec / 1e3 + u.ru_stime.tv_sec * 1e3 +
         u.ru_stime.tv_usec / 1e3;
}

double self_cpu_ms() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return cpu_ms(u);
}

struct Args {
  int rounds = 9;  // the runs spread by +-10%: fewer rounds cannot tell 1.1 apart
  int steps = 200;
  std::string baton = BATON_BINARY;
  std::string state_in;  // parent of the per-round state dirs; default: the temp dir
  bool keep = false;
  bool runner = true;  // false: [ssh] runner = false, a channel per step
};

void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--rounds N] [--steps N] [--baton PATH] [--state-in DIR] [--no-runner] [--keep]\n"
               "  --rounds N    alternate rounds of baton and the plain loop (default 9)\n"
               "  --steps N     steps in the runbook / execs in the loop (default 200)\n"
               "  --baton PATH  the baton binary (default %s)\n"
               "  --state-in DIR  put baton's per-round state dirs under DIR (e.g. /dev/shm,\n"
               "                to see what the journal's fsyncs cost on this disk)\n"
               "  --no-runner   [ssh] runner = false: baton gives each step an SSH channel\n"
               "                of its own, as the plain loop does\n"
               "  --keep        keep the temp dir (runbook, state dirs, baton's JSON output)\n",
               argv0, BATON_BINARY);
}

bool parse_args(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto value = [&](const char** out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    const char* v = nullptr;
    if (k == "--rounds" && value(&v)) {
      a->rounds = std::atoi(v);
      if (a->rounds < 1) return false;
    } else if (k == "--steps" && value(&v)) {
      a->steps = std::atoi(v);
      if (a->steps < 1) return false;
    } else if (k == "--baton" && value(&v)) {
      a->baton = v;
    } else if (k == "--state-in" && value(&v)) {
      a->state_in = v;
    } else if (k == "--no-runner") {
      a->runner = false;
    } else if (k == "--keep") {
      a->keep = true;
    } else {
      return false;
    }
  }
  return true;
}

std::string make_temp_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/baton-bench-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) return {};
  return buf.data();
}

// TOML basic string.
std::string toml_str(const std::string& s) {
  std::string q = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') q += '\\';
    q += c;
  }
  return q + "\"";
}

std::string runbook_text(const baton::testing::SshdFixture& sshd, int steps, bool runner) {
  std::string host;
  host += "address = " + toml_str(sshd.address()) + "\n";
  host += "port = " + std::to_string(sshd.port()) + "\n";
  host += "user = " + toml_str(sshd.user()) + "\n";
  host += "identity = " + toml_str(sshd.identity_path()) + "\n";

  std::string t;
  t += "[runbook]\n";
  t += "name = \"ssh-exec-bench\"\n";
  t += "description = \"" + std::to_string(steps) + " trivial steps on one SSH host\"\n\n";
  t += "[ssh]\n";
  t += "known_hosts = " + toml_str(sshd.known_hosts_path()) + "\n";
  if (!runner) t += "runner = false\n";
  t += "\n";
  t += "[sites.main.hosts.db]\n" + host + "\n";
  t += "[sites.dr.hosts.db]\n" + host + "\n";
  t += "[replication]\nsource = \"main\"\ntarget = \"dr\"\n";
  for (int i = 1; i <= steps; ++i) {
    t += "\n[[step]]\n";
    t += "id = \"s-" + std::to_string(i) + "\"\n";
    t += "phase = \"promote\"\n";
    t += "on = \"target\"\n";
    t += "run = \"true\"\n";
  }
  return t;
}

bool write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
  return static_cast<bool>(f);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return s;
}

// (a) One whole `baton switchover`: milliseconds, or -1 on failure (*why set);
// *cpu: baton's own CPU time (user + system).
double time_baton(const Args& a, const std::string& runbook, const std::string& state_dir,
                  const std::string& out_path, const std::string& err_path, double* cpu,
                  std::string* why) {
  const auto t0 = Clock::now();
  pid_t pid = ::fork();
  if (pid < 0) {
    *why = "fork failed";
    return -1;
  }
  if (pid == 0) {
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int in = ::open("/dev/null", O_RDONLY);
    if (out < 0 || err < 0 || in < 0) ::_exit(126);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    ::execl(a.baton.c_str(), a.baton.c_str(), "switchover", runbook.c_str(), "--state-dir",
            state_dir.c_str(), "--json", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int st = 0;
  rusage ru{};
  if (::wait4(pid, &st, 0, &ru) != pid) {
    *why = "wait4 failed";
    return -1;
  }
  const auto t1 = Clock::now();
  *cpu = cpu_ms(ru);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    *why = "baton switchover " +
           (WIFEXITED(st) ? "exited " + std::to_string(WEXITSTATUS(st))
                          : "killed by signal " + std::to_string(WTERMSIG(st))) +
           "; stderr:\n" + read_file(err_path) + "stdout tail:\n";
    std::string out = read_file(out_path);
    *why += out.size() > 2000 ? out.substr(out.size() - 2000) : out;
    return -1;
  }
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

// (b) The plain loop: milliseconds, or -1 on failure (*why set); *cpu: this
// process's CPU time over the loop.
double time_plain(const baton::testing::SshdFixture& sshd, int execs, double* cpu,
                  std::string* why) {
  const double cpu0 = self_cpu_ms();
  const auto t0 = Clock::now();
  ssh_session s = ssh_new();
  if (!s) {
    *why = "ssh_new failed";
    return -1;
  }
  auto fail = [&](const std::string& what) {
    *why = what + ": " + ssh_get_error(s);
    ssh_disconnect(s);
    ssh_free(s);
    return -1.0;
  };
  unsigned int port = static_cast<unsigned int>(sshd.port());
  int nodelay = 1;
  bool process_config = false;
  ssh_options_set(s, SSH_OPTIONS_HOST, sshd.address().c_str());
  ssh_options_set(s, SSH_OPTIONS_PORT, &port);
  ssh_options_set(s, SSH_OPTIONS_USER, sshd.user().c_str());
  ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, sshd.known_hosts_path().c_str());
  ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &process_config);
  ssh_options_set(s, SSH_OPTIONS_NODELAY, &nodelay);
  if (ssh_connect(s) != SSH_OK) return fail("connect");
  if (ssh_session_is_known_server(s) != SSH_KNOWN_HOSTS_OK) return fail("host key not known");
  ssh_key key = nullptr;
  if (ssh_pki_import_privkey_file(sshd.identity_path().c_str(), nullptr, nullptr, nullptr,
                                  &key) != SSH_OK)
    return fail("import identity");
  int rc = ssh_userauth_publickey(s, nullptr, key);
  ssh_key_free(key);
  if (rc != SSH_AUTH_SUCCESS) return fail("publickey auth");

  char buf[4096];
  for (int i = 0; i < execs; ++i) {
    ssh_channel ch = ssh_channel_new(s);
    if (!ch) return fail("channel_new");
    if (ssh_channel_open_session(ch) != SSH_OK) {
      ssh_channel_free(ch);
      return fail("channel_open_session");
    }
    if (ssh_channel_request_exec(ch, "true") != SSH_OK) {
      ssh_channel_free(ch);
      return fail("request_exec");
    }
    // Read both streams to EOF.
    int n = 0;
    while ((n = ssh_channel_read(ch, buf, sizeof buf, 0)) > 0) {
    }
    if (n == SSH_ERROR) {
      ssh_channel_free(ch);
      return fail("read");
    }
    while ((n = ssh_channel_read(ch, buf, sizeof buf, 1)) > 0) {
    }
    int status = ssh_channel_get_exit_status(ch);
    ssh_channel_send_eof(ch);
    ssh_channel_close(ch);
    ssh_channel_free(ch);
    if (status != 0) {
      *why = "exec " + std::to_string(i + 1) + ": exit status " + std::to_string(status);
      ssh_disconnect(s);
      ssh_free(s);
      return -1;
    }
  }
  const auto t1 = Clock::now();
  *cpu = self_cpu_ms() - cpu0;
  ssh_disconnect(s);
  ssh_free(s);
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

struct Stats {
  double median, min, max;
};

Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return {med, v.front(), v.back()};
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse_args(argc, argv, &a)) {
    usage(argv[0]);
    return 2;
  }
  if (::access(a.baton.c_str(), X_OK) != 0) {
    std::fprintf(stderr, "ssh_exec_bench: no baton binary at %s (pass --baton PATH)\n",
                 a.baton.c_str());
    return 1;
  }

  baton::testing::SshdFixture sshd;
  if (!sshd.ok()) {
    std::fprintf(stderr, "ssh_exec_bench: cannot start sshd: %s\n", sshd.error().c_str());
    return 1;
  }
  const std::string dir = make_temp_dir();
  if (dir.empty()) {
    std::fprintf(stderr, "ssh_exec_bench: mkdtemp failed\n");
    return 1;
  }
  struct Cleanup {
    std::string dir;
    bool keep;
    ~Cleanup() {
      if (dir.empty()) return;
      if (keep) {
        std::fprintf(stderr, "ssh_exec_bench: kept %s\n", dir.c_str());
        return;
      }
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{dir, a.keep};

  std::string state_parent = dir;
  if (!a.state_in.empty()) {
    std::string tmpl = a.state_in + "/baton-bench-state-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) {
      std::fprintf(stderr, "ssh_exec_bench: cannot make a dir under %s\n", a.state_in.c_str());
      return 1;
    }
    state_parent = buf.data();
  }
  Cleanup state_cleanup{state_parent == dir ? std::string() : state_parent, a.keep};

  const std::string runbook = dir + "/runbook.toml";
  if (!write_file(runbook, runbook_text(sshd, a.steps, a.runner))) {
    std::fprintf(stderr, "ssh_exec_bench: cannot write %s\n", runbook.c_str());
    return 1;
  }

  std::printf("ssh_exec_bench: %d steps of `true` on %s@%s:%d, %d rounds, baton %s\n", a.steps,
              sshd.user().c_str(), sshd.address().c_str(), sshd.port(), a.rounds,
              a.baton.c_str());
  std::fflush(stdout);

  std::vector<double> baton_ms, plain_ms, baton_cpu, plain_cpu;
  for (int r = 0; r <= a.rounds; ++r) {
    std::string why;
    const std::string rd = dir + "/round-" + std::to_string(r);
    if (::mkdir(rd.c_str(), 0755) != 0) {
      std::fprintf(stderr, "ssh_exec_bench: mkdir %s failed\n", rd.c_str());
      return 1;
    }
    // Fresh state every round: the roles must start as main -> dr.
    const std::string state_dir =
        state_parent == dir ? rd + "/state" : state_parent + "/round-" + std::to_string(r);
    // Alternate which goes first, so neither always runs right after the
    // other's sessions close.
    double bc = 0, pc = 0, b = 0, p = 0;
    for (int k = 0; k < 2; ++k) {
      if ((k == 0) == (r % 2 == 1)) {
        b = time_baton(a, runbook, state_dir, rd + "/baton.jsonl", rd + "/baton.err", &bc, &why);
        if (b < 0) {
          std::fprintf(stderr, "ssh_exec_bench: round %d: %s\n", r, why.c_str());
          return 1;
        }
      } else {
        p = time_plain(sshd, a.steps, &pc, &why);
        if (p < 0) {
          std::fprintf(stderr, "ssh_exec_bench: round %d: plain loop failed: %s\n", r,
                       why.c_str());
          return 1;
        }
      }
    }
    if (r == 0) continue;  // warm-up: page cache, sshd, libssh/OpenSSL init
    baton_ms.push_back(b);
    plain_ms.push_back(p);
    baton_cpu.push_back(bc);
    plain_cpu.push_back(pc);
    std::printf("  round %d: baton %.0f ms (cpu %.0f ms), plain loop %.0f ms (cpu %.0f ms)\n", r,
                b, bc, p, pc);
    std::fflush(stdout);
  }

  const Stats bs = stats(baton_ms), ps = stats(plain_ms);
  const double bcpu = stats(baton_cpu).median, pcpu = stats(plain_cpu).median;
  const double ratio = bs.median / ps.median;
  std::printf("\n");
  std::printf("baton:      %d steps  median %.0f ms (%.0f..%.0f)  %.2f ms/step"
              "  (client cpu %.2f ms/step)\n",
              a.steps, bs.median, bs.min, bs.max, bs.median / a.steps, bcpu / a.steps);
  std::printf("plain loop: %d execs  median %.0f ms (%.0f..%.0f)  %.2f ms/exec"
              "  (client cpu %.2f ms/exec)\n",
              a.steps, ps.median, ps.min, ps.max, ps.median / a.steps, pcpu / a.steps);
  std::printf("ratio baton/plain: %.3f (target <= 1.10)  %s\n", ratio,
              ratio <= 1.10 ? "met" : "ABOVE TARGET");
  std::fflush(stdout);
  return 0;
}
