#include "agents/ssh_runner.h"

#include <cstdlib>
#include <cstring>

#include "agents/shell.h"

namespace baton {

namespace {

// Requests on stdin: "r CMDLEN INLEN\n" CMD INPUT (start /bin/sh -c CMD),
// "g\n" (go: feed INPUT to its stdin, then EOF; till then its stdin stays
// open and empty), "k\n" (stop the command that runs now), "n\n" (are
// you there?). Frames on stdout: "o"/"e"
// LEN "\n" BYTES (its stdout/stderr), "p" PID " " START "\n" (it runs, in
// its own group), "x" CODE " " SIG "\n" (ended), "f" LEN "\n" WHY (could
// not start it), "y\n" (here). All bytes: binmode, whatever PERL_UNICODE
// or PERL5OPT say.
// EOF on stdin (the client went): exit at once, leaving a running command
// alone (as sshd does), unless a stop is under way: that finishes first.
// One that had no go yet then reads EOF on its stdin.
// A stop: TERM to the group, then KILL once no live member is left
// (zombies, which an init may reap late, do not count) or after 2 s; "s\n"
// before the end frame when live members remain 1 s after the KILL (another
// user's, run_as: the client then stops them over a channel, through sudo).
// Once the command ended, outputs still open (a background child holding
// them) are let go 50 ms later, at the first moment nothing is there to
// read, as a channel's were (a daemon that keeps writing does not hold the
// step). A runner that cannot start commands ("f") is given up for
// channels.
// SIGCHLD writes to a pipe the select watches: a signal that came just
// before the select would not wake it. Perl's core only (no POSIX: loading
// it triples perl's start); a process group of its own with setpgrp, the
// clock from /proc/uptime (10 ms steps).
constexpr char kProgram[] = R"PERL(use strict; no warnings;
binmode STDIN; binmode STDOUT; binmode STDERR;
sub now { open(my $f, '<', '/proc/uptime') or return time; my ($u) = <$f> =~ /^(\d+(?:\.\d+)?)/; defined $u ? $u : time }
pipe(my $wake_r, my $wake_w) or die "cannot make a pipe: $!"; binmode $wake_r; binmode $wake_w;
my $woken = 0; $SIG{CHLD} = sub { syswrite($wake_w, 'c') unless $woken++ }; $SIG{PIPE} = 'IGNORE';
my ($in, $eof) = ('', 0);
sub fill { for (;;) { my $n = sysread(STDIN, $in, 65536, length $in); return 1 if $n;
  if (defined $n || !$!{EINTR}) { $eof = 1; return 0 } } }
sub put { my $b = shift; while (length $b && !$eof) { my $n = syswrite(STDOUT, $b);
  if (!defined $n) { next if $!{EINTR}; $eof = 1; last } substr($b, 0, $n, ''); } }
sub take { my $n = shift; while (length($in) < $n) { fill() or exit 0 } substr($in, 0, $n, '') }
sub line { my $i; while (($i = index($in, "\n")) < 0) { fill() or exit 0 }
  my $l = substr($in, 0, $i + 1, ''); chop $l; $l }
sub fail { my $m = shift; put('f' . length($m) . "\n" . $m) }
sub start_ticks { my $pid = shift; open(my $f, '<', "/proc/$pid/stat") or return 0;
  my $s = <$f>; close $f; $s =~ s/.*\) //s or return 0; (split / /, $s)[19] || 0 }
sub group_alive { my $g = shift; opendir(my $d, '/proc') or return kill(0, -$g);
  for my $p (grep { /^\d+$/ } readdir $d) { open(my $f, '<', "/proc/$p/stat") or next;
    my $s = <$f>; close $f; $s =~ s/.*\) //s or next; my @f = split / /, $s;
    return 1 if $f[0] ne 'Z' && $f[2] == $g } 0 }
sub survivors { my $g = shift; my $until = now() + 1;
  while (group_alive($g)) { return 1 if now() >= $until; select(undef, undef, undef, 0.1) } 0 }
sub run { my ($cmd, $data) = @_; my ($ir, $iw, $or, $ow, $er, $ew, $sr, $sw);
  pipe($ir, $iw) && pipe($or, $ow) && pipe($er, $ew) && pipe($sr, $sw) or return fail("cannot make pipes: $!");
  binmode $_ for $iw, $or, $er, $sr, $sw;
  my $pid = fork();
  if (!defined $pid) { my $e = "cannot fork: $!"; close $_ for $ir, $iw, $or, $ew, $er, $ow, $sr, $sw; return fail($e) }
  if (!$pid) { eval { setpgrp(0, 0); $SIG{PIPE} = 'DEFAULT'; $SIG{CHLD} = 'DEFAULT';
      open(STDIN, '<&', $ir) && open(STDOUT, '>&', $ow) && open(STDERR, '>&', $ew)
        && exec { '/bin/sh' } 'sh', '-c', $cmd; };
    syswrite($sw, "cannot run /bin/sh: " . ($@ || $!)); exit 127 }
  close $_ for $ir, $ow, $ew, $sw;
  # $sr ends (close-on-exec) once /bin/sh runs, in its own group, or says why not.
  my $why = ''; for (;;) { my $n = sysread($sr, $why, 4096, length $why); next if $n || (!defined $n && $!{EINTR}); last }
  close $sr;
  if (length $why) { waitpid($pid, 0); close $_ for $iw, $or, $er; return fail($why) }
  put("p$pid " . start_ticks($pid) . "\n");
  my %open = (o => $or, e => $er); my $w = $iw;
  my ($status, $ended, $term_at, $killed, $check_at, $go);
  for (;;) {
    while ((my $i = index($in, "\n")) >= 0) { my $l = substr($in, 0, $i + 1, '');  # a go or a stop may have come with the request
      $go = 1 if $l eq "g\n";
      if ($l eq "k\n" && !defined $term_at) { kill('TERM', -$pid); $term_at = $check_at = now() } }
    my ($rin, $win, $read) = ('', '', 0);
    vec($rin, fileno($open{$_}), 1) = 1 for keys %open; vec($rin, fileno($wake_r), 1) = 1;
    vec($rin, 0, 1) = 1 unless $eof; vec($win, fileno($w), 1) = 1 if $w && $go;
    # Once the command ended and 50 ms passed: only what is there now.
    my $late = defined $status && now() - $ended >= 0.05 && (!defined $term_at || $killed);
    if (select(my $rout = $rin, my $wout = $win, undef, $late ? 0 : 0.05) > 0) {
      if (vec($rout, fileno($wake_r), 1)) { $woken = 0; sysread($wake_r, my $junk, 512) }
      for my $k (keys %open) { next unless vec($rout, fileno($open{$k}), 1);
        my $n = sysread($open{$k}, my $b, 65536);
        if ($n) { put($k . $n . "\n" . $b); $read = 1 } elsif (defined $n || !$!{EINTR}) { close delete $open{$k} } }
      if ($w && vec($wout, fileno($w), 1)) { my $n = syswrite($w, $data, 4096);
        substr($data, 0, $n, '') if $n;
        if (!length $data || (!defined $n && !$!{EINTR})) { close $w; undef $w } }
      fill() if !$eof && vec($rout, 0, 1); }
    exit 0 if $eof && !defined $term_at;
    if (!defined $status && waitpid($pid, 1) == $pid) { $status = $?; $ended = now() }  # 1: WNOHANG
    if (defined $term_at && !$killed) { my $t = now(); if ($t >= $check_at) { $check_at = $t + 0.1;
      if ($t - $term_at >= 2 || !group_alive($pid)) { kill('KILL', -$pid); $killed = 1 } } }
    exit 0 if $eof && $killed;
    last if defined $status && (!%open || (!$read && $late)) && (!defined $term_at || $killed) }
  close $_ for values %open; close $w if $w;
  put("s\n") if $killed && survivors($pid);
  put(($status & 127) ? 'x-1 ' . ($status & 127) . "\n" : 'x' . ($status >> 8) . " 0\n") }
put("baton-runner 1\n");
for (;;) { my ($op, $clen, $ilen) = split / /, line(); if ($op eq 'n') { put("y\n"); next }
  next unless $op eq 'r'; my $cmd = take($clen); run($cmd, take($ilen)) }
)PERL";

// Parses a decimal number that ends at `end` (exclusive); false if any
// byte is not part of it.
bool parse_number(const std::string& s, std::size_t from, std::size_t end, long long* v) {
  if (from >= end || end - from > 19) return false;
  std::size_t i = from;
  bool neg = s[i] == '-';
  if (neg && ++i == end) return false;
  long long n = 0;
  for (; i < end; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    n = n * 10 + (s[i] - '0');
  }
  *v = neg ? -n : n;
  return true;
}

}  // namespace

std::string runner_command(const std::string& perl) { return "exec " + shell_quote(perl) + " -e " + shell_quote(kProgram); }

std::string runner_request(const std::string& command, const std::string& stdin_text) {
  return "r " + std::to_string(command.size()) + " " + std::to_string(stdin_text.size()) + "\n" + command + stdin_text;
}

void RunnerFrames::add(const char* p, std::size_t n) {
  if (at_ > (1 << 16)) {  // keep the unread part only
    buf_.erase(0, at_);
    at_ = 0;
  }
  buf_.append(p, n);
}

bool RunnerFrames::ready() {
  constexpr std::size_t len = sizeof(kRunnerReady) - 1;
  const std::size_t at = buf_.find(kRunnerReady, at_);
  if (at != std::string::npos) {
    at_ = at + len;
    return true;
  }
  if (buf_.size() - at_ > (1 << 16)) at_ = buf_.size() - len;  // chatter: keep only a possible start
  return false;
}

std::optional<RunnerFrame> RunnerFrames::next(std::string* bad) {
  const std::size_t nl = buf_.find('\n', at_);
  if (nl == std::string::npos) {
    if (buf_.size() - at_ > 64) *bad = "a frame header longer than 64 bytes";
    return std::nullopt;
  }
  RunnerFrame f;
  const char kind = buf_[at_];
  long long a = 0, b = 0;
  if (kind == 'o' || kind == 'e' || kind == 'f') {
    if (!parse_number(buf_, at_ + 1, nl, &a) || a < 0) {
      *bad = "a malformed frame header";
      return std::nullopt;
    }
    if (buf_.size() - (nl + 1) < static_cast<std::size_t>(a)) return std::nullopt;  // more to come
    f.kind = kind == 'o' ? RunnerFrame::out : kind == 'e' ? RunnerFrame::err : RunnerFrame::failed;
    f.data.assign(buf_, nl + 1, static_cast<std::size_t>(a));
    at_ = nl + 1 + static_cast<std::size_t>(a);
  } else if (kind == 'p' || kind == 'x') {
    const std::size_t sp = buf_.find(' ', at_);
    if (sp == std::string::npos || sp > nl || !parse_number(buf_, at_ + 1, sp, &a) ||
        !parse_number(buf_, sp + 1, nl, &b)) {
      *bad = "a malformed frame header";
      return std::nullopt;
    }
    if (kind == 'p') {
      f.kind = RunnerFrame::process;
      f.pid = static_cast<long>(a);
      f.start = b;
    } else {
      f.kind = RunnerFrame::exit;
      f.exit_code = static_cast<int>(a);
      f.signal = static_cast<int>(b);
    }
    at_ = nl + 1;
  } else if (kind == 'y' && nl == at_ + 1) {
    f.kind = RunnerFrame::here;
    at_ = nl + 1;
  } else if (kind == 's' && nl == at_ + 1) {
    f.kind = RunnerFrame::survived;
    at_ = nl + 1;
  } else {
    *bad = "an unknown frame";
    return std::nullopt;
  }
  if (at_ == buf_.size()) clear();
  return f;
}

}  // namespace baton
