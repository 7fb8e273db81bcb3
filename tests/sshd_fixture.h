// A real OpenSSH sshd on 127.0.0.1 for tests: its own temp dir, host key,
// user key, authorized_keys and known_hosts; free port. Several instances
// may run at once (one per simulated host).
//
// As root (CI) it logs in a dedicated user "batontest" (shell /bin/sh,
// created if missing) because root's shell start-up is slow; otherwise it
// logs in the current user.
#pragma once
#include <sys/types.h>

#include <string>

namespace baton::testing {

class SshdFixture {
 public:
  // Sets everything up and starts sshd; check ok() / error().
  // `max_startups`: sshd's MaxStartups ("1:100:1" drops every unauthenticated
  // connection beyond the first).
  explicit SshdFixture(const std::string& max_startups = "100");
  ~SshdFixture();  // stops sshd, removes the temp dir
  SshdFixture(const SshdFixture&) = delete;
  SshdFixture& operator=(const SshdFixture&) = delete;

  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  // Start again (same port, same keys); "" on success, else why not.
  std::string start();
  // Kill sshd and every session it serves (SIGKILL), like a host dying.
  void stop();
  bool running() const { return pid_ > 0; }

  const std::string& address() const { return address_; }
  int port() const { return port_; }
  const std::string& user() const { return user_; }
  // Private key whose public half is in authorized_keys.
  const std::string& identity_path() const { return identity_; }
  // A known_hosts file holding this server's host key.
  const std::string& known_hosts_path() const { return known_hosts_; }
  // "SHA256:..." as ssh-keygen -l prints it.
  const std::string& host_key_fingerprint() const { return fingerprint_; }
  // "[127.0.0.1]:PORT ssh-ed25519 AAAA..." (the known_hosts line).
  std::string known_hosts_line() const;
  // "[127.0.0.1]:PORT"
  std::string host_pattern() const;

  // The fixture's temp dir (0755, root-owned when root).
  const std::string& dir() const { return dir_; }
  // A directory the login user can write (for pid files and the like).
  const std::string& scratch_dir() const { return scratch_; }
  // A fresh ed25519 key pair in dir(); returns the private key path ("" on
  // failure). Its public half is at PATH.pub and is NOT authorized.
  std::string make_key(const std::string& name) const;
  // sshd's log (-e output).
  std::string log() const;
  // Connections sshd accepted, and those it dropped (MaxStartups), so far.
  int connections_accepted() const;
  int connections_dropped() const;

 private:
  std::string setup(const std::string& max_startups);
  std::string ensure_user();

  std::string error_;
  std::string dir_, scratch_, config_, identity_, known_hosts_, host_key_pub_, log_;
  std::string fingerprint_;
  std::string address_ = "127.0.0.1";
  std::string user_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace baton::testing
