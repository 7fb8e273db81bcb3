// Loads a runbook and validates all of it, collecting every mistake so an
// operator fixes the file once instead of once per error.
#include "runbooks/loader.h"

#include "runbooks/names.h"
#include "runbooks/nesting.h"
#include "runbooks/quantity.h"
#include "runbooks/secret_source.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <sstream>
#include <string_view>

namespace baton {

std::string Diagnostic::str() const {
  return file + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": " +
         message;
}

namespace {

using Keys = std::initializer_list<std::string_view>;

// Deeper than any runbook (sites.S.hosts.H.vars.NAME is 6), far below
// what overflows toml++'s recursion.
constexpr int kMaxNesting = 32;
// The runbook name is a directory name in the state root.
constexpr size_t kMaxRunbookName = 64;
// A step's timeout: a zero one would fail every step at once.
constexpr Millis kMaxTimeout = std::chrono::hours(7 * 24);
// Retries wait silently: an hour at most between attempts.
constexpr Millis kMaxRetryDelay = std::chrono::hours(1);

// "168h", "1h", "30s": as a runbook would write it.
std::string format_duration_spec(Millis d) {
  long long ms = d.count();
  if (ms % 3600000 == 0) return std::to_string(ms / 3600000) + "h";
  if (ms % 60000 == 0) return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// ---------------------------------------------------------------- text helpers

std::string in_quotes(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates) {
  std::string n = nearest(word, candidates);
  return n.empty() ? "" : "; did you mean " + in_quotes(n) + "?";
}

bool matches_charset(std::string_view s, bool allow_underscore) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              (allow_underscore && c == '_');
    if (!ok) return false;
  }
  return true;
}

std::string type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

std::string fnv1a_hex(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// ---------------------------------------------------------------- positions

Location loc(const toml::source_region& r) {
  return {static_cast<int>(r.begin.line), static_cast<int>(r.begin.column)};
}
Location loc(const toml::node& n) { return loc(n.source()); }
Location loc(const toml::key& k) { return loc(k.source()); }

const Location kTop{1, 1};

bool before(Location a, Location b) {
  return a.line != b.line ? a.line < b.line : a.column < b.column;
}

using Entry = std::pair<const toml::key*, const toml::node*>;

// toml++ tables are sorted by key; runbook order is file order.
std::vector<Entry> in_file_order(const toml::table& t) {
  std::vector<Entry> out;
  for (auto&& [k, v] : t) out.emplace_back(&k, &v);
  std::stable_sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) {
    return before(loc(*a.first), loc(*b.first));
  });
  return out;
}

// ---------------------------------------------------------------- reading values

struct Ctx {
  std::string file;
  std::vector<Diagnostic> errors;
  bool read_values = true;  // { env } and { file }

  void error(Location at, std::string message) { errors.push_back({file, at, std::move(message)}); }
};

// A table and how messages name it: "[runbook]", "[[step]] \"stop-db\"".
struct Scope {
  const toml::table& table;
  std::string name;
  Location where;
};

const char* const kTopLevel = "the top level";

void check_keys(Ctx& ctx, const Scope& s, Keys known) {
  std::vector<std::string> names(known.begin(), known.end());
  for (auto&& [k, v] : s.table) {
    if (std::find(names.begin(), names.end(), k.str()) != names.end()) continue;
    const char* prep = s.name == kTopLevel ? " at " : " in ";
    ctx.error(loc(k),
              "unknown key " + in_quotes(k.str()) + prep + s.name + did_you_mean(k.str(), names));
  }
}

void missing(Ctx& ctx, const Scope& s, std::string_view key) {
  ctx.error(s.where, "missing required key " + in_quotes(key) + " in " + s.name);
}

void wrong_type(Ctx& ctx, std::string_view key, const toml::node& n, std::string_view want) {
  ctx.error(loc(n),
            in_quotes(key) + " must be " + std::string(want) + ", not " + type_name(n.type()));
}

// The node for `key` if it has the wanted type; reports absence or a wrong type.
const toml::node* find(Ctx& ctx, const Scope& s, std::string_view key, toml::node_type type,
                       bool required) {
  const toml::node* n = s.table.get(key);
  if (!n) {
    if (required) missing(ctx, s, key);
    return nullptr;
  }
  if (n->type() != type) {
    wrong_type(ctx, key, *n, type_name(type));
    return nullptr;
  }
  return n;
}

std::optional<std::string> get_string(Ctx& ctx, const Scope& s, std::string_view key,
                                      bool required = false) {
  const toml::node* n = find(ctx, s, key, toml::node_type::string, required);
  if (!n) return std::nullopt;
  const std::string& text = n->as_string()->get();
  // A command, path or name would silently stop at the NUL.
  if (text.find('\0') != std::string::npos) {
    ctx.error(loc(*n), in_quotes(key) + " contains a NUL byte (\\u0000), where it would cut the text short");
    return std::nullopt;
  }
  return text;
}

std::optional<bool> get_bool(Ctx& ctx, const Scope& s, std::string_view key) {
  const toml::node* n = find(ctx, s, key, toml::node_type::boolean, false);
  if (!n) return std::nullopt;
  return n->as_boolean()->get();
}

std::optional<int> get_int(Ctx& ctx, const Scope& s, std::string_view key, long long lo,
                           long long hi) {
  const toml::node* n = find(ctx, s, key, toml::node_type::integer, false);
  if (!n) return std::nullopt;
  long long v = n->as_integer()->get();
  if (v >= lo && v <= hi) return static_cast<int>(v);
  std::string range = hi >= INT_MAX
                          ? "at least " + std::to_string(lo)
                          : "between " + std::to_string(lo) + " and " + std::to_string(hi);
  ctx.error(loc(*n), in_quotes(key) + " must be " + range + ", not " + std::to_string(v));
  return std::nullopt;
}

std::optional<Millis> get_duration(Ctx& ctx, const Scope& s, std::string_view key) {
  const toml::node* n = s.table.get(key);
  if (!n) return std::nullopt;
  const char* example = "\"30s\", \"2m\", \"250ms\" or \"1m30s\"";
  if (!n->is_string()) {
    wrong_type(ctx, key, *n, std::string("a duration string such as ") + example);
    return std::nullopt;
  }
  const std::string& text = n->as_string()->get();
  std::optional<Millis> d = parse_duration(text);
  if (!d)
    ctx.error(loc(*n), in_quotes(key) + " = " + in_quotes(text) +
                           " is not a duration; write e.g. " + example);
  return d;
}

// A duration within [lo, hi]; reports one outside it.
std::optional<Millis> get_duration_in(Ctx& ctx, const Scope& s, std::string_view key, Millis lo,
                                      Millis hi, const char* lo_words) {
  std::optional<Millis> d = get_duration(ctx, s, key);
  if (!d || (*d >= lo && *d <= hi)) return d;
  const std::string& text = s.table.get(key)->as_string()->get();
  ctx.error(loc(*s.table.get(key)), in_quotes(key) + " = " + in_quotes(text) + " is out of range: it must be " +
                                        lo_words + " and at most " + format_duration_spec(hi));
  return std::nullopt;
}

// A sub-table; reports a wrong type, or absence when required.
const toml::table* get_table(Ctx& ctx, const Scope& s, std::string_view key, bool required) {
  const toml::node* n = s.table.get(key);
  if (!n) {
    if (required) ctx.error(s.where, "missing [" + std::string(key) + "] table");
    return nullptr;
  }
  if (!n->is_table()) {
    wrong_type(ctx, key, *n, "a table");
    return nullptr;
  }
  return n->as_table();
}

// ---------------------------------------------------------------- sections

void load_header(Ctx& ctx, const Scope& root, Runbook& rb) {
  const toml::table* t = get_table(ctx, root, "runbook", true);
  if (!t) return;
  Scope s{*t, "[runbook]", loc(*t)};
  check_keys(ctx, s, {"name", "description", "rto", "rpo", "prelude"});
  if (auto p = get_string(ctx, s, "prelude")) rb.prelude = *p;
  if (auto name = get_string(ctx, s, "name", true)) {
    rb.name = *name;
    if (!matches_charset(*name, true))
      ctx.error(loc(*t->get("name")),
                "runbook name " + in_quotes(*name) + " must use only a-z, 0-9, _ and -");
    else if (name->size() > kMaxRunbookName)  // It names the state directory.
      ctx.error(loc(*t->get("name")), "runbook name is " + std::to_string(name->size()) +
                                          " characters long; at most " +
                                          std::to_string(kMaxRunbookName) + " are allowed");
  }
  if (auto d = get_string(ctx, s, "description")) rb.description = *d;
  rb.rto = get_duration(ctx, s, "rto");
  if (auto text = get_string(ctx, s, "rpo")) {
    rb.rpo = parse_quantity(*text);
    rb.rpo_text = *text;
    if (!rb.rpo)
      ctx.error(loc(*t->get("rpo")), "\"rpo\" = " + in_quotes(*text) +
                                         " is not a data-loss objective; write a duration (\"0s\", \"5m\"), "
                                         "a byte count (\"16MB\", \"0 bytes\") or transactions (\"0 transactions\")");
  }
}

// [probe], [sites.S.probe], [sites.S.hosts.H.probe]: how to ask a host
// what it is.
std::optional<ProbeSpec> load_probe(Ctx& ctx, const Scope& parent, const std::string& name) {
  const toml::table* t = get_table(ctx, parent, "probe", false);
  if (!t) return std::nullopt;
  ProbeSpec p;
  p.where = loc(*t);
  Scope s{*t, name, p.where};
  check_keys(ctx, s, {"run", "timeout", "skip"});
  if (auto skip = get_bool(ctx, s, "skip")) p.skip = *skip;
  if (auto run = get_string(ctx, s, "run", !p.skip)) {
    p.run = *run;
    if (run->find_first_not_of(" \t\r\n") == std::string::npos)
      ctx.error(loc(*t->get("run")), "\"run\" of " + name + " must not be empty; use skip = true for a host "
                                     "that is not a database");
  }
  if (auto d = get_duration_in(ctx, s, "timeout", Millis(1), kMaxTimeout, "more than 0s")) p.timeout = *d;
  return p;
}

void load_vars(Ctx& ctx, const Scope& scope, std::vector<std::pair<std::string, std::string>>& out,
               std::set<std::string>& secrets);

// run_as: a user name sudo -u takes; "" means the login user.
void check_user_name(Ctx& ctx, const toml::node& n, const std::string& u) {
  bool ok = u.size() <= 32;
  for (size_t i = 0; i < u.size() && ok; ++i) {
    char c = u[i];
    ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (i > 0 && ((c >= '0' && c <= '9') || c == '-' || c == '.'));
  }
  if (!ok)
    ctx.error(loc(n), "\"run_as\" = " + in_quotes(u) +
                          " is not a user name (letters, digits, _, . and -, not starting with a digit, "
                          "at most 32 characters); \"\" runs as the SSH user");
}

void load_host(Ctx& ctx, const std::string& site, const toml::key& key, const toml::table& t,
               Host& h) {
  h.site = site;
  h.name = std::string(key.str());
  h.where = loc(t);
  Scope s{t, "[sites." + site + ".hosts." + h.name + "]", h.where};
  check_keys(ctx, s, {"address", "port", "user", "identity", "host_key", "run_as", "vars", "probe"});
  if (!matches_charset(h.name, true))
    ctx.error(loc(key), "host name " + in_quotes(h.name) + " must use only a-z, 0-9, _ and -");
  if (auto a = get_string(ctx, s, "address", true)) {
    h.address = *a;
    if (a->empty()) ctx.error(loc(*t.get("address")), "\"address\" must not be empty");
  }
  if (auto p = get_int(ctx, s, "port", 1, 65535)) h.port = *p;
  if (auto u = get_string(ctx, s, "user")) h.user = *u;
  if (auto i = get_string(ctx, s, "identity")) h.identity = *i;
  if (auto k = get_string(ctx, s, "host_key")) {
    h.host_key = *k;
    if (k->rfind("SHA256:", 0) != 0)
      ctx.error(loc(*t.get("host_key")),
                "\"host_key\" must start with \"SHA256:\" "
                "(as ssh-keygen -lf prints it), not " +
                    in_quotes(*k));
  }
  if (auto r = get_string(ctx, s, "run_as")) {
    h.run_as = *r;
    check_user_name(ctx, *t.get("run_as"), *r);
  }
  std::set<std::string> secret;
  load_vars(ctx, s, h.vars, secret);  // This host's own values (paths, ports).
  for (const std::string& n : secret) h.secret_vars.insert(n);
  h.probe = load_probe(ctx, s, s.name.substr(0, s.name.size() - 1) + ".probe]");
}

void load_site(Ctx& ctx, const toml::key& key, const toml::table& t, Site& site) {
  site.name = std::string(key.str());
  site.where = loc(t);
  Scope s{t, "[sites." + site.name + "]", site.where};
  check_keys(ctx, s, {"hosts", "probe"});
  site.probe = load_probe(ctx, s, "[sites." + site.name + ".probe]");
  if (!matches_charset(site.name, true))
    ctx.error(loc(key), "site name " + in_quotes(site.name) + " must use only a-z, 0-9, _ and -");
  // "on" could not tell the site from the role.
  if (site.name == "source" || site.name == "target")
    ctx.error(loc(key), "site name " + in_quotes(site.name) + " is reserved for the role");
  if (site.name == "all")  // on = "all" is every host of both sites.
    ctx.error(loc(key), "site name \"all\" is reserved: on = \"all\" means every host of both sites");
  const toml::node* hosts = t.get("hosts");
  if (hosts && !hosts->is_table()) return wrong_type(ctx, "hosts", *hosts, "a table");
  if (!hosts || hosts->as_table()->empty())
    return ctx.error(site.where, "site " + in_quotes(site.name) + " has no hosts; add [sites." +
                                     site.name + ".hosts.NAME] with an address");
  for (auto [hk, hv] : in_file_order(*hosts->as_table())) {
    if (!hv->is_table()) {
      wrong_type(ctx, hk->str(), *hv, "a table of host settings");
      continue;
    }
    site.hosts.emplace_back();
    load_host(ctx, site.name, *hk, *hv->as_table(), site.hosts.back());
  }
}

// Returns whether a [sites] table was there, so later checks do not pile on.
bool load_sites(Ctx& ctx, const Scope& root, Runbook& rb) {
  const toml::table* t = get_table(ctx, root, "sites", true);
  if (!t) return false;
  if (t->empty()) ctx.error(loc(*t), "[sites] has no sites; add [sites.NAME.hosts.HOST]");
  for (auto [k, v] : in_file_order(*t)) {
    if (!v->is_table()) {
      wrong_type(ctx, k->str(), *v, "a table (a site)");
      continue;
    }
    rb.sites.emplace_back();
    load_site(ctx, *k, *v->as_table(), rb.sites.back());
  }
  return true;
}

std::vector<std::string> site_names(const Runbook& rb) {
  std::vector<std::string> names;
  for (const Site& s : rb.sites) names.push_back(s.name);
  return names;
}

void check_site_ref(Ctx& ctx, const Runbook& rb, const toml::table& t, std::string_view key,
                    const std::string& name) {
  if (rb.site(name)) return;
  std::vector<std::string> names = site_names(rb);
  ctx.error(loc(*t.get(key)), "replication " + std::string(key) + " names unknown site " +
                                  in_quotes(name) + did_you_mean(name, names) +
                                  " (sites: " + join(names) + ")");
}

void load_replication(Ctx& ctx, const Scope& root, Runbook& rb, bool have_sites) {
  const toml::table* t = get_table(ctx, root, "replication", true);
  if (!t) return;
  Scope s{*t, "[replication]", loc(*t)};
  check_keys(ctx, s, {"source", "target"});
  auto src = get_string(ctx, s, "source", true);
  auto dst = get_string(ctx, s, "target", true);
  if (src) rb.source = *src;
  if (dst) rb.target = *dst;
  if (src && dst && *src == *dst)
    ctx.error(loc(*t->get("target")), "replication source and target are both " + in_quotes(*src) +
                                          "; they must be different sites");
  if (!have_sites) return;
  if (src) check_site_ref(ctx, rb, *t, "source", *src);
  if (dst && !(src && *src == *dst)) check_site_ref(ctx, rb, *t, "target", *dst);
}

void load_ssh(Ctx& ctx, const Scope& root, Runbook& rb) {
  const toml::table* t = get_table(ctx, root, "ssh", false);
  if (!t) return;
  Scope s{*t, "[ssh]", loc(*t)};
  check_keys(ctx, s, {"known_hosts", "connection_attempts", "runner"});
  if (auto k = get_string(ctx, s, "known_hosts")) rb.known_hosts = *k;
  if (auto n = get_int(ctx, s, "connection_attempts", 1, 100)) rb.connection_attempts = *n;
  if (auto r = get_bool(ctx, s, "runner")) rb.ssh_runner = *r;
}

// A non-negative amount: an integer or a float.
std::optional<double> get_amount(Ctx& ctx, const Scope& s, std::string_view key) {
  const toml::node* n = s.table.get(key);
  if (!n) return std::nullopt;
  std::optional<double> v;
  if (auto i = n->as_integer()) v = static_cast<double>(i->get());
  if (auto f = n->as_floating_point()) v = f->get();
  if (!v) {
    wrong_type(ctx, key, *n, "a number (per hour)");
    return std::nullopt;
  }
  if (!(*v >= 0) || *v > 1e15) {
    ctx.error(loc(*n), in_quotes(key) + " must be a number between 0 and 1e15 (an amount per hour)");
    return std::nullopt;
  }
  return v;
}

void load_cost(Ctx& ctx, const Scope& root, Runbook& rb) {
  const toml::table* t = get_table(ctx, root, "cost", false);
  if (!t) return;
  Scope s{*t, "[cost]", loc(*t)};
  check_keys(ctx, s, {"hourly_revenue", "hourly_labor", "currency"});
  CostModel c;
  std::optional<double> hr = get_amount(ctx, s, "hourly_revenue");
  std::optional<double> lr = get_amount(ctx, s, "hourly_labor");
  if (!s.table.get("hourly_revenue") && !s.table.get("hourly_labor"))
    ctx.error(s.where, "[cost] needs \"hourly_revenue\" or \"hourly_labor\" (amounts per hour)");
  c.hourly_revenue = hr.value_or(0);
  c.hourly_labor = lr.value_or(0);
  if (auto cur = get_string(ctx, s, "currency")) c.currency = *cur;
  rb.cost = c;
}

// Scalars other than strings are accepted as their TOML text: port = 5432.
std::optional<std::string> var_text(const toml::node& v) {
  if (auto s = v.as_string()) return s->get();
  if (auto i = v.as_integer()) return std::to_string(i->get());
  if (auto b = v.as_boolean()) return std::string(b->get() ? "true" : "false");
  if (auto f = v.as_floating_point()) {
    std::ostringstream os;
    os << *f;
    return os.str();
  }
  return std::nullopt;
}

// Empty when `name` may be set by a runbook; else why not.
std::string reserved_problem(std::string_view what, const std::string& name) {
  std::string reader = reserved_var_name(name);
  if (reader.empty()) return "";
  if (reader == "Baton")
    return std::string(what) + " " + in_quotes(name) + " is reserved: Baton sets BATON_* itself";
  return std::string(what) + " " + in_quotes(name) + " is reserved: " + reader +
         " reads it, and every command would see it; set it inside the command if you must (" +
         name + "=... command)";
}

std::string base_dir(const std::string& file) {
  size_t slash = file.rfind('/');
  return slash == std::string::npos ? "." : file.substr(0, slash == 0 ? 1 : slash);
}

// { value = "...", secret = true }, { env = "NAME" }, { file = "PATH" }:
// the value, and whether it is secret (env and file: unless secret = false).
std::optional<std::string> var_from_table(Ctx& ctx, const std::string& name, const toml::table& t, bool* secret) {
  Scope s{t, "variable " + in_quotes(name), loc(t)};
  check_keys(ctx, s, {"value", "env", "file", "secret"});
  int sources = t.contains("value") + t.contains("env") + t.contains("file");
  if (sources != 1) {
    ctx.error(loc(t), "variable " + in_quotes(name) +
                          " needs exactly one of \"value\", \"env\" (the orchestrator's environment) or "
                          "\"file\" (a file only you may read)");
    return std::nullopt;
  }
  auto declared = get_bool(ctx, s, "secret");
  std::optional<std::string> out;
  std::string why;
  if (const toml::node* v = t.get("value")) {
    out = var_text(*v);
    if (!out) wrong_type(ctx, "value", *v, "a string, number or boolean");
    *secret = declared.value_or(false);
  } else if (auto env = get_string(ctx, s, "env")) {
    if (!valid_var_name(*env))
      return ctx.error(loc(*t.get("env")), "\"env\" = " + in_quotes(*env) + " is not an environment variable name"),
             std::nullopt;
    out = ctx.read_values ? value_from_env(*env, &why) : std::string();
    if (!out) ctx.error(loc(*t.get("env")), "variable " + in_quotes(name) + ": " + why);
    *secret = declared.value_or(true);
  } else if (auto file = get_string(ctx, s, "file")) {
    out = ctx.read_values ? value_from_file(*file, base_dir(ctx.file), &why) : std::string();
    if (!out) ctx.error(loc(*t.get("file")), "variable " + in_quotes(name) + ": " + why);
    *secret = declared.value_or(true);
  }
  return out;
}

void load_vars(Ctx& ctx, const Scope& scope, std::vector<std::pair<std::string, std::string>>& out,
               std::set<std::string>& secrets) {
  const toml::table* t = get_table(ctx, scope, "vars", false);
  if (!t) return;
  for (auto [k, v] : in_file_order(*t)) {
    std::string name(k->str());
    if (!valid_var_name(name))
      ctx.error(loc(*k), "variable name " + in_quotes(name) +
                             " is not a shell variable name (letters, digits and _, "
                             "not starting with a digit)");
    else if (std::string bad = reserved_problem("variable name", name); !bad.empty())
      ctx.error(loc(*k), bad);
    std::optional<std::string> text;
    bool secret = false;
    if (v->is_table()) {
      text = var_from_table(ctx, name, *v->as_table(), &secret);
      if (!text) continue;
    } else {
      text = var_text(*v);
    }
    if (!text) {
      ctx.error(loc(*v), "variable " + in_quotes(name) +
                             " must be a string, number, boolean or a table such as { env = \"NAME\" }, "
                             "not " +
                             type_name(v->type()));
      continue;
    }
    if (text->find('\0') != std::string::npos)
      ctx.error(loc(*v), "variable " + in_quotes(name) +
                             " contains a NUL byte, which no shell variable can hold");
    if (secret) secrets.insert(name);
    out.emplace_back(name, *text);
  }
}

// ---------------------------------------------------------------- steps

std::vector<std::string> phase_names() {
  std::vector<std::string> out;
  for (Phase p : all_phases()) out.emplace_back(name(p));
  return out;
}

std::vector<std::string> operation_names() {
  std::vector<std::string> out;
  for (Operation o : all_operations()) out.emplace_back(name(o));
  return out;
}

void load_phase(Ctx& ctx, const Scope& s, Step& st) {
  auto text = get_string(ctx, s, "phase", true);
  if (!text) return;
  if (auto p = parse_phase(*text)) {
    st.phase = *p;
    return;
  }
  std::vector<std::string> names = phase_names();
  ctx.error(loc(*s.table.get("phase")), "unknown phase " + in_quotes(*text) +
                                            did_you_mean(*text, names) +
                                            " (phases: " + join(names) + ")");
}

void load_operations(Ctx& ctx, const Scope& s, Step& st, bool phase_ok) {
  const toml::node* n = find(ctx, s, "operations", toml::node_type::array, false);
  if (!n) return;
  const toml::array& a = *n->as_array();
  if (a.empty())
    ctx.error(loc(*n),
              "\"operations\" is empty, so the step never runs; omit it to run "
              "in every operation with this phase");
  for (const toml::node& e : a) {
    if (!e.is_string()) {
      ctx.error(loc(e), "\"operations\" entries must be strings, not " + type_name(e.type()));
      continue;
    }
    const std::string& text = e.as_string()->get();
    std::optional<Operation> op = parse_operation(text);
    if (!op) {
      std::vector<std::string> names = operation_names();
      ctx.error(loc(e), "unknown operation " + in_quotes(text) + did_you_mean(text, names) +
                            " (operations: " + join(names) + ")");
      continue;
    }
    if (phase_ok && !operation_has_phase(*op, st.phase))
      ctx.error(loc(e), "phase " + in_quotes(name(st.phase)) + " is not part of operation " +
                            in_quotes(name(*op)));
    if (std::find(st.operations.begin(), st.operations.end(), *op) == st.operations.end())
      st.operations.push_back(*op);
  }
}

void load_drill(Ctx& ctx, const Scope& s, Step& st, bool phase_ok) {
  auto text = get_string(ctx, s, "drill");
  if (!text) return;
  if (*text != "run" && *text != "skip")
    return ctx.error(loc(*s.table.get("drill")),
                     "\"drill\" must be \"run\" or \"skip\", not " + in_quotes(*text));
  st.drill_run = *text == "run";
  if (st.drill_run && phase_ok && !operation_has_phase(Operation::drill, st.phase))
    ctx.error(loc(*s.table.get("drill")),
              "drill = \"run\" but phase " + in_quotes(name(st.phase)) + " is not part of a drill");
}

void load_on_failure(Ctx& ctx, const Scope& s, Step& st) {
  auto text = get_string(ctx, s, "on_failure");
  if (!text) return;
  if (*text == "abort")
    st.on_failure = OnFailure::abort;
  else if (*text == "continue")
    st.on_failure = OnFailure::continue_;
  else if (*text == "rollback")
    st.on_failure = OnFailure::rollback;
  else
    ctx.error(loc(*s.table.get("on_failure")),
              "\"on_failure\" must be \"abort\", \"continue\" or \"rollback\", not " +
                  in_quotes(*text) + did_you_mean(*text, {"abort", "continue", "rollback"}));
}

void load_expectations(Ctx& ctx, const Scope& s, Step& st) {
  if (auto e = get_int(ctx, s, "expect_exit", 0, 255)) st.expect_exit = *e;
  st.expect_stdout = get_string(ctx, s, "expect_stdout");
  auto text = get_string(ctx, s, "expect_match");
  if (!text) return;
  std::string why;
  st.expect_match = Pattern::compile(*text, &why);
  if (!st.expect_match)
    ctx.error(loc(*s.table.get("expect_match")),
              "\"expect_match\" is not a regular expression Baton can use: " + why);
}

void load_capture(Ctx& ctx, const Scope& s, Step& st) {
  auto c = get_string(ctx, s, "capture");
  if (!c) return;
  st.capture = *c;
  if (!valid_var_name(*c))
    ctx.error(loc(*s.table.get("capture")), "\"capture\" = " + in_quotes(*c) +
                                                " is not a shell variable name (letters, "
                                                "digits and _, not starting with a digit)");
  else if (std::string bad = reserved_problem("\"capture\" =", *c); !bad.empty())
    ctx.error(loc(*s.table.get("capture")), bad);
}

void load_identity(Ctx& ctx, const Scope& s, Step& st) {
  if (auto id = get_string(ctx, s, "id", true)) {
    st.id = *id;
    if (!matches_charset(*id, false))
      ctx.error(loc(*s.table.get("id")),
                "step id " + in_quotes(*id) + " must use only a-z, 0-9 and -");
  }
  if (auto on = get_string(ctx, s, "on", true)) st.on = *on;
  if (!s.table.contains("run") && !s.table.contains("wait"))
    ctx.error(s.where, "missing required key \"run\" (or \"wait\") in " + s.name);
  if (auto run = get_string(ctx, s, "run")) {
    st.run = *run;
    if (run->find_first_not_of(" \t\r\n") == std::string::npos)
      ctx.error(loc(*s.table.get("run")), "\"run\" must not be empty");
  }
}

// wait = { until = "CMD", every = "1s", within = "1m" }
void load_wait(Ctx& ctx, const Scope& s, Step& st, bool timeout_given) {
  const toml::table* t = get_table(ctx, s, "wait", false);
  if (!t) return;
  Wait w;
  Scope ws{*t, "\"wait\" of " + s.name, loc(*t)};
  check_keys(ctx, ws, {"until", "every", "within"});
  if (auto u = get_string(ctx, ws, "until", true)) {
    w.until = *u;
    if (u->find_first_not_of(" \t\r\n") == std::string::npos)
      ctx.error(loc(*t->get("until")), "\"until\" must not be empty: it is the condition to wait for");
  }
  if (auto e = get_duration_in(ctx, ws, "every", Millis(1), kMaxRetryDelay, "more than 0s")) w.every = *e;
  if (auto d = get_duration_in(ctx, ws, "within", Millis(1), kMaxTimeout, "more than 0s")) w.within = *d;
  if (w.every > w.within && t->contains("every"))
    ctx.error(loc(*t->get("every")), "\"every\" = " + format_duration_spec(w.every) + " is longer than \"within\" = " +
                                         format_duration_spec(w.within) + ": the condition would be tried once");
  // The step's timeout bounds the wait too: it must leave room for it.
  if (timeout_given && w.within >= st.timeout)
    ctx.error(loc(*t), "\"within\" = " + format_duration_spec(w.within) + " of \"wait\" is not shorter than the step's "
                           "\"timeout\" = " + format_duration_spec(st.timeout) + ", which would kill the wait first");
  else if (!timeout_given)
    st.timeout = std::max(st.timeout, std::min(kMaxTimeout, w.within + Millis(std::chrono::minutes(1))));
  st.wait = w;
}

// capture's companions: secret = true, keep = true (stored for later runs).
void load_capture_flags(Ctx& ctx, const Scope& s, Step& st) {
  if (auto v = get_bool(ctx, s, "secret")) {
    st.secret = *v;
    if (*v && !s.table.contains("capture"))
      ctx.error(loc(*s.table.get("secret")), "secret = true marks the step's capture secret, but the step has no "
                                             "\"capture\"; declare a variable secret in [vars] with { value = ..., secret = true }");
  }
  if (auto k = get_bool(ctx, s, "keep")) {
    st.keep = *k;
    if (*k && !s.table.contains("capture"))
      ctx.error(loc(*s.table.get("keep")), "keep = true stores the step's capture for later runs, but the step has no "
                                           "\"capture\"");
    else if (*k && (st.secret || is_secret_name(st.capture)))
      ctx.error(loc(*s.table.get("keep")), "keep = true on the secret capture " + in_quotes(st.capture) +
                                           ": Baton never stores a secret; capture it again in the run that needs it");
  }
}

void load_run_as(Ctx& ctx, const Scope& s, Step& st) {
  if (auto r = get_string(ctx, s, "run_as")) {
    st.run_as = *r;
    check_user_name(ctx, *s.table.get("run_as"), *r);
  }
}

void load_step(Ctx& ctx, const toml::table& t, Step& st) {
  st.where = loc(t);
  const toml::node* id = t.get("id");
  std::string label = "[[step]]";
  if (id && id->is_string()) label += " " + in_quotes(id->as_string()->get());
  Scope s{t, label, st.where};
  check_keys(ctx, s,
             {"id", "phase", "on", "run", "operations", "drill", "timeout", "retries",
              "retry_delay", "expect_exit", "expect_stdout", "expect_match", "capture",
              "on_failure", "undo", "confirm", "group", "idempotent", "measures", "hint", "wait", "run_as",
              "secret", "keep"});
  load_identity(ctx, s, st);
  size_t before_phase = ctx.errors.size();
  load_phase(ctx, s, st);
  // Cross checks against a phase we could not read would only add noise.
  bool phase_ok = t.contains("phase") && ctx.errors.size() == before_phase;
  load_operations(ctx, s, st, phase_ok);
  load_drill(ctx, s, st, phase_ok);
  if (auto d = get_duration_in(ctx, s, "timeout", Millis(1), kMaxTimeout, "more than 0s"))
    st.timeout = *d;
  if (auto r = get_int(ctx, s, "retries", 0, 1000000)) st.retries = *r;
  if (auto d = get_duration_in(ctx, s, "retry_delay", Millis(0), kMaxRetryDelay, "0 (retry at once) or more"))
    st.retry_delay = *d;
  load_wait(ctx, s, st, t.contains("timeout"));
  load_run_as(ctx, s, st);
  load_expectations(ctx, s, st);
  load_capture(ctx, s, st);
  load_capture_flags(ctx, s, st);
  load_on_failure(ctx, s, st);
  if (auto u = get_string(ctx, s, "undo")) st.undo = *u;
  if (auto c = get_string(ctx, s, "confirm")) st.confirm = *c;
  if (auto g = get_string(ctx, s, "group")) st.group = *g;
  if (auto i = get_bool(ctx, s, "idempotent")) st.idempotent = *i;
  if (auto h = get_string(ctx, s, "hint")) st.hint = *h;
  if (auto m = get_string(ctx, s, "measures")) {
    st.measures_data_loss = *m == "data_loss";
    if (!st.measures_data_loss)
      ctx.error(loc(*t.get("measures")), "\"measures\" must be \"data_loss\", not " + in_quotes(*m) +
                                             did_you_mean(*m, {"data_loss"}));
  }
}

void check_duplicate_ids(Ctx& ctx, const std::vector<const toml::table*>& tables,
                         const Runbook& rb) {
  std::map<std::string, Location> first;
  for (size_t i = 0; i < rb.steps.size(); ++i) {
    const Step& st = rb.steps[i];
    if (st.id.empty()) continue;
    Location at = loc(*tables[i]->get("id"));
    auto [it, inserted] = first.emplace(st.id, at);
    if (inserted) continue;
    ctx.error(at, "duplicate step id " + in_quotes(st.id) + "; first defined on line " +
                      std::to_string(it->second.line));
  }
}

void check_targets(Ctx& ctx, const std::vector<const toml::table*>& tables, const Runbook& rb) {
  for (size_t i = 0; i < rb.steps.size(); ++i) {
    const toml::node* on = tables[i]->get("on");
    if (!on || !on->is_string()) continue;
    std::string problem = check_target(rb, rb.steps[i].on);
    if (!problem.empty()) ctx.error(loc(*on), problem);
  }
}

void load_steps(Ctx& ctx, const Scope& root, Runbook& rb, bool check_on) {
  const toml::node* n = root.table.get("step");
  if (!n) return;  // No steps is a valid, if idle, runbook.
  if (!n->is_array()) return wrong_type(ctx, "step", *n, "an array of tables ([[step]])");
  std::vector<const toml::table*> tables;
  for (const toml::node& e : *n->as_array()) {
    if (!e.is_table()) {
      ctx.error(loc(e), "\"step\" entries must be tables ([[step]]), not " + type_name(e.type()));
      continue;
    }
    tables.push_back(e.as_table());
    rb.steps.emplace_back();
    load_step(ctx, *e.as_table(), rb.steps.back());
  }
  check_duplicate_ids(ctx, tables, rb);
  if (check_on) check_targets(ctx, tables, rb);
}

void load_root(Ctx& ctx, const toml::table& root, Runbook& rb) {
  // Nothing but comments or blank lines: one clear message, not one per table.
  if (root.empty())
    return ctx.error(kTop,
                     "empty runbook: expected a [runbook] table, sites, "
                     "[replication] and [[step]]s");
  Scope s{root, kTopLevel, kTop};
  check_keys(ctx, s, {"runbook", "sites", "replication", "ssh", "vars", "probe", "step", "cost"});
  load_header(ctx, s, rb);
  bool have_sites = load_sites(ctx, s, rb);
  load_replication(ctx, s, rb, have_sites);
  load_ssh(ctx, s, rb);
  load_cost(ctx, s, rb);
  load_vars(ctx, s, rb.vars, rb.secret_names);
  for (const Site& site : rb.sites)
    for (const Host& h : site.hosts)
      for (const std::string& n : h.secret_vars)  // Seen by the other side as source_N, target_N too.
        rb.secret_names.insert({n, "source_" + n, "target_" + n});
  rb.probe = load_probe(ctx, s, "[probe]");
  load_steps(ctx, s, rb, have_sites);
  for (const Step& st : rb.steps)
    if (st.secret && !st.capture.empty()) rb.secret_names.insert(st.capture);
}

void parse_and_load(Ctx& ctx, const std::string& text, Runbook& rb) {
  // toml++ recurses once per level: bound the depth before it parses.
  if (std::optional<NestingError> deep = check_nesting(text, kMaxNesting))
    return ctx.error(deep->where, deep->message);
  toml::table root;
  try {
    root = toml::parse(std::string_view(text), std::string_view(ctx.file));
  } catch (const toml::parse_error& e) {
    Location at = loc(e.source());
    if (at.line < 1) at = kTop;
    ctx.error(at, "TOML syntax error: " + std::string(e.description()));
    return;
  }
  load_root(ctx, root, rb);
}

// ---------------------------------------------------------------- check_target

bool has_host(const Site& s, const std::string& host) {
  for (const Host& h : s.hosts)
    if (h.name == host) return true;
  return false;
}

std::vector<std::string> host_names(const Site& s) {
  std::vector<std::string> out;
  for (const Host& h : s.hosts) out.push_back(h.name);
  return out;
}

std::string unknown_host(const Site& s, const std::string& host, const std::string& why) {
  std::vector<std::string> names = host_names(s);
  std::string known = names.empty() ? " (it has no hosts)" : " (hosts: " + join(names) + ")";
  return "unknown host " + in_quotes(host) + " in site " + in_quotes(s.name) + why +
         did_you_mean(host, names) + known;
}

// A role names whichever site plays it, and roles swap: both sites need the host.
std::string check_role_host(const Runbook& rb, const std::string& role, const std::string& host) {
  for (const std::string& site : {rb.source, rb.target}) {
    const Site* s = rb.site(site);
    if (s && !has_host(*s, host))
      return unknown_host(
          *s, host,
          "; " + in_quotes(role + "." + host) + " needs it in both sites, since roles swap");
  }
  return "";
}

std::string unknown_target(const Runbook& rb, const std::string& head) {
  std::vector<std::string> names = site_names(rb);
  std::vector<std::string> candidates = names;
  candidates.insert(candidates.begin(), {"source", "target", "all"});
  return "unknown role or site " + in_quotes(head) + " in \"on\"" + did_you_mean(head, candidates) +
         " (roles: source, target; sites: " + join(names) + "; or ROLE.HOST, SITE.HOST, or all)";
}

LoadResult unreadable(const std::string& path, const std::string& why) {
  LoadResult r;
  r.runbook.path = path;
  r.errors.push_back({path, kTop, "cannot read runbook: " + why});
  return r;
}

}  // namespace

std::string check_target(const Runbook& rb, const std::string& on) {
  if (on.empty()) return "\"on\" must not be empty; use a role, a site or ROLE.HOST";
  if (on == "all") return "";
  if (on.rfind("all.", 0) == 0)
    return "\"on\" = " + in_quotes(on) + ": \"all\" is every host of both sites and takes no host; use SITE.HOST";
  size_t dot = on.find('.');
  std::string head = on.substr(0, dot);
  std::string host = dot == std::string::npos ? "" : on.substr(dot + 1);
  if (dot != std::string::npos && (host.empty() || host.find('.') != std::string::npos))
    return "\"on\" = " + in_quotes(on) + " must be ROLE, SITE, ROLE.HOST or SITE.HOST";
  if (head == "source" || head == "target")
    return host.empty() ? "" : check_role_host(rb, head, host);
  const Site* s = rb.site(head);
  if (!s) return unknown_target(rb, head);
  if (!host.empty() && !has_host(*s, host)) return unknown_host(*s, host, "");
  return "";
}

LoadResult load_runbook_text(const std::string& text, const std::string& path, bool read_values) {
  LoadResult r;
  r.runbook.path = path;
  r.runbook.content_hash = fnv1a_hex(text);
  Ctx ctx{path, {}, read_values};
  try {
    parse_and_load(ctx, text, r.runbook);
  } catch (const std::exception& e) {  // Callers expect diagnostics, never a throw.
    ctx.error(kTop, std::string("internal error while loading: ") + e.what());
  }
  std::stable_sort(
      ctx.errors.begin(), ctx.errors.end(),
      [](const Diagnostic& a, const Diagnostic& b) { return before(a.where, b.where); });
  r.errors = std::move(ctx.errors);
  return r;
}

LoadResult load_runbook_file(const std::string& path, bool read_values) {
  // Reading a directory "succeeds" with no bytes; say what is wrong instead.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return unreadable(path, "it is a directory");
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buf;
  if (in) buf << in.rdbuf();
  if (!in || in.bad()) return unreadable(path, errno ? std::strerror(errno) : "read failed");
  return load_runbook_text(buf.str(), path, read_values);
}

}  // namespace baton
