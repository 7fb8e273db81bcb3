// The plain program Baton's fan-out is measured against: one thread per
// host, all at once, each connects (TCP, key exchange, host key checked
// against known_hosts, publickey), runs one command, reads its output to
// EOF and checks its exit status. Nothing else: no config files, no journal.
//
//   fanout_plain --hosts N --address A --port P --user U --identity KEY
//                --known-hosts FILE [--command CMD]
//
// Exit 0 when every host ran the command with status 0; else 1 and why.
#include <libssh/libssh.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

struct Args {
  int hosts = 1;
  std::string address = "127.0.0.1", user, identity, known_hosts, command = "true";
  unsigned int port = 22;
};

// "" when the command ran and exited 0 on this host, else why not.
std::string one_host(const Args& a) {
  ssh_session s = ssh_new();
  if (!s) return "ssh_new failed";
  auto fail = [&](const std::string& what) {
    std::string e = what + ": " + ssh_get_error(s);
    ssh_disconnect(s);
    ssh_free(s);
    return e;
  };
  int nodelay = 1;
  bool process_config = false;
  ssh_options_set(s, SSH_OPTIONS_HOST, a.address.c_str());
  ssh_options_set(s, SSH_OPTIONS_PORT, &a.port);
  ssh_options_set(s, SSH_OPTIONS_USER, a.user.c_str());
  ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, a.known_hosts.c_str());
  ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &process_config);
  ssh_options_set(s, SSH_OPTIONS_NODELAY, &nodelay);
  if (ssh_connect(s) != SSH_OK) return fail("connect");
  if (ssh_session_is_known_server(s) != SSH_KNOWN_HOSTS_OK) return fail("host key not known");
  ssh_key key = nullptr;
  if (ssh_pki_import_privkey_file(a.identity.c_str(), nullptr, nullptr, nullptr, &key) != SSH_OK)
    return fail("import identity");
  int rc = ssh_userauth_publickey(s, nullptr, key);
  ssh_key_free(key);
  if (rc != SSH_AUTH_SUCCESS) return fail("publickey auth");
  ssh_channel ch = ssh_channel_new(s);
  if (!ch) return fail("channel_new");
  if (ssh_channel_open_session(ch) != SSH_OK || ssh_channel_request_exec(ch, a.command.c_str()) != SSH_OK) {
    ssh_channel_free(ch);
    return fail("exec");
  }
  char buf[4096];
  int n = 0;
  while ((n = ssh_channel_read(ch, buf, sizeof buf, 0)) > 0) {
  }
  while ((n = ssh_channel_read(ch, buf, sizeof buf, 1)) > 0) {
  }
  int status = ssh_channel_get_exit_status(ch);
  ssh_channel_send_eof(ch);
  ssh_channel_close(ch);
  ssh_channel_free(ch);
  ssh_disconnect(s);
  ssh_free(s);
  return status == 0 ? "" : "exit status " + std::to_string(status);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--hosts") a.hosts = std::atoi(v.c_str());
    else if (k == "--address") a.address = v;
    else if (k == "--port") a.port = static_cast<unsigned int>(std::atoi(v.c_str()));
    else if (k == "--user") a.user = v;
    else if (k == "--identity") a.identity = v;
    else if (k == "--known-hosts") a.known_hosts = v;
    else if (k == "--command") a.command = v;
    else {
      std::fprintf(stderr, "fanout_plain: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (a.hosts < 1 || a.user.empty() || a.identity.empty() || a.known_hosts.empty()) {
    std::fprintf(stderr, "usage: fanout_plain --hosts N --address A --port P --user U --identity KEY --known-hosts FILE [--command CMD]\n");
    return 2;
  }
  ssh_init();
  std::vector<std::string> errs(static_cast<size_t>(a.hosts));
  std::vector<std::thread> ts;
  for (int i = 0; i < a.hosts; ++i) ts.emplace_back([&, i] { errs[static_cast<size_t>(i)] = one_host(a); });
  for (auto& t : ts) t.join();
  int bad = 0;
  for (int i = 0; i < a.hosts; ++i)
    if (!errs[static_cast<size_t>(i)].empty()) {
      std::fprintf(stderr, "fanout_plain: host %d: %s\n", i + 1, errs[static_cast<size_t>(i)].c_str());
      ++bad;
    }
  ssh_finalize();
  return bad ? 1 : 0;
}
