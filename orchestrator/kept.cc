#include "orchestrator/kept.h"

#include <nlohmann/json.hpp>

namespace baton {
namespace {

// {"values": [{"name": ..., "value": ..., "run": ...}, ...]}
nlohmann::json read_kept(const StateDir& dir) {
  bool ok = false;
  const std::string text = read_file(dir.path() + "/kept.json", &ok);
  if (!ok) return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("values") || !j["values"].is_array())
    return nlohmann::json::object();
  return j;
}

}  // namespace

Vars load_kept(const StateDir& dir) {
  Vars out;
  const nlohmann::json j = read_kept(dir);
  if (!j.contains("values")) return out;
  for (const auto& v : j["values"])
    if (v.is_object() && v.value("name", "") != "" && v.contains("value") && v["value"].is_string())
      set_var(out, v["name"].get<std::string>(), v["value"].get<std::string>());
  return out;
}

std::string save_kept(const StateDir& dir, const Vars& values, const std::string& run_id,
                      const std::vector<std::string>& drop) {
  if (values.empty() && drop.empty()) return {};
  nlohmann::json j = read_kept(dir);
  if (!j.contains("values")) j["values"] = nlohmann::json::array();
  auto replaced = [&](const std::string& name) {
    for (const auto& [n, _] : values)
      if (n == name) return true;
    for (const std::string& n : drop)
      if (n == name) return true;
    return false;
  };
  nlohmann::json kept = nlohmann::json::array();
  for (const auto& v : j["values"])
    if (v.is_object() && !replaced(v.value("name", ""))) kept.push_back(v);
  for (const auto& [name, value] : values) kept.push_back({{"name", name}, {"value", value}, {"run", run_id}});
  j["values"] = kept;
  // Replacement characters rather than a throw on bytes that are not UTF-8.
  return write_file_atomic(dir.path() + "/kept.json", j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

}  // namespace baton
