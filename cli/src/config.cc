// --config FILE and --print-config (declared in flags.h).
//
// CLI11 2.1 (Debian 12) reads the file of App::set_config only for the main app, and a bad value
// in it surfaces as a plain "--l1: ..." error that does not say it came from a file. So --config is
// an ordinary option whose callback reads the file with the app's own config formatter (TOML) and
// applies each key to the option of the same long name, the way CLI11's set_config would. The
// callbacks run after the whole command line is parsed and before required options are checked,
// so a flag given on the command line wins over the file, and a required option (agent run's
// --data) may come from the file.
#include <sys/stat.h>

#include <exception>
#include <fstream>
#include <iostream>
#include <iterator>
#include <set>
#include <sstream>

#include "edgetrain/cli/flags.h"

namespace edgetrain::cli {
namespace {

constexpr const char* kPrintConfig = "--print-config";

// "edgetrain-agent run", "edgetrain-coordinator".
std::string CommandName(const CLI::App* app) {
  std::string name = app->get_name();
  for (const CLI::App* p = app->get_parent(); p != nullptr; p = p->get_parent())
    name = p->get_name() + " " + name;
  return name;
}

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// 1-based number of the first line that sets `key` ("key = ...", "key=...", a bare "key") or
// opens section `[key]`; 0 when not found. Only for error messages.
int LineOf(const std::vector<std::string>& lines, const std::string& key, bool section) {
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string line = Trim(lines[i]);
    if (section) {
      if (line == "[" + key + "]" || line == "[[" + key + "]]") return static_cast<int>(i) + 1;
      continue;
    }
    if (line.compare(0, key.size(), key) != 0) continue;
    const std::string rest = Trim(line.substr(key.size()));
    if (rest.empty() || rest[0] == '=' || rest[0] == '#') return static_cast<int>(i) + 1;
  }
  return 0;
}

// CLI11's own errors start with the option name ("--l1: must be >= 0, got -1"); the config error
// names the key instead, so drop that prefix.
std::string WithoutOptionPrefix(const std::string& what, const std::string& key) {
  const std::string prefix = "--" + key + ": ";
  return what.compare(0, prefix.size(), prefix) == 0 ? what.substr(prefix.size()) : what;
}

void ApplyConfigFile(CLI::App* app, const std::string& path) {
  // A directory opens as an ifstream on Linux and throws only when read.
  struct stat st;
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    throw CLI::ConfigError("--config: '" + path + "' is a directory, not a config file");
  std::ifstream in(path);
  if (!in) throw CLI::ConfigError(path + ": cannot read the config file");
  std::string text;
  try {
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::exception& e) {
    throw CLI::ConfigError(path + ": cannot read the config file: " + e.what());
  }
  if (in.bad()) throw CLI::ConfigError(path + ": cannot read the config file");
  std::vector<std::string> lines;
  {
    std::istringstream split(text);
    for (std::string line; std::getline(split, line);) lines.push_back(line);
  }
  auto where = [&](const std::string& key, bool section = false) {
    const int line = LineOf(lines, key, section);
    return path + (line > 0 ? ":" + std::to_string(line) : std::string()) + ": ";
  };
  std::istringstream input(text);
  std::vector<CLI::ConfigItem> items;
  try {
    items = app->get_config_formatter()->from_config(input);
  } catch (const CLI::Error& e) {
    throw CLI::ConfigError(path + ": " + e.what());
  }
  std::set<std::string> seen;
  for (const CLI::ConfigItem& item : items) {
    if (!item.parents.empty()) {
      const std::string section = CLI::detail::join(item.parents, ".");
      throw CLI::ConfigError(where(section, true) + "unknown section [" + section +
                             "] (the options of '" + CommandName(app) + "' are top-level keys)");
    }
    const std::string& key = item.name;
    CLI::Option* op = app->get_option_no_throw("--" + key);
    if (op == nullptr) {
      throw CLI::ConfigError(where(key) + "unknown key '" + key + "' (not an option of '" +
                             CommandName(app) + "')");
    }
    if (!op->get_configurable()) {
      throw CLI::ConfigError(where(key) + "key '" + key + "' cannot be set in a config file");
    }
    if (!seen.insert(key).second)
      throw CLI::ConfigError(where(key) + "key '" + key + "' is set twice");
    if (op->count() > 0) continue;  // given on the command line, which wins
    try {
      if (op->get_expected_min() == 0) {  // a flag: "key = true", "key = false" or a bare "key"
        op->add_result(op->get_flag_value(key, app->get_config_formatter()->to_flag(item)));
      } else {
        op->add_result(item.inputs);
      }
      op->run_callback();
    } catch (const CLI::Error& e) {
      throw CLI::ConfigError(where(key) + "bad value for key '" + key +
                             "': " + WithoutOptionPrefix(e.what(), key));
    }
  }
}

// The options of `app` itself (not of its subcommands) in the format ApplyConfigFile reads, grouped
// as in --help, each after its help text as a comment. Like CLI11's App::config_to_str, but without
// the subcommands' options (as dotted keys they would not read back) and with the options that have
// neither a value nor a default shown commented out, so that every key is listed.
std::string ConfigText(const CLI::App& app) {
  std::ostringstream out;
  out << "# effective options of '" << CommandName(&app) << "', " << VersionLine("edgetrain")
      << "; read back with --config FILE\n";
  for (const std::string& group : app.get_groups()) {
    bool heading = false;
    for (const CLI::Option* opt : app.get_options()) {
      if (opt->get_group() != group || !opt->get_configurable() || opt->get_lnames().empty())
        continue;
      if (!heading) {
        out << "\n# ---- " << group << "\n";
        heading = true;
      }
      std::string value = CLI::detail::ini_join(opt->reduced_results());
      if (value.empty() && !opt->get_default_str().empty())
        value = CLI::detail::convert_arg_for_ini(opt->get_default_str());
      if (value.empty() && opt->get_expected_min() == 0) value = "false";
      if (value.empty() && opt->get_run_callback_for_default()) value = "\"\"";
      out << "# " << opt->get_description() << "\n"
          << (value.empty() ? "# " : "") << opt->get_lnames().front() << " = " << value << "\n";
    }
  }
  return out.str();
}

}  // namespace

void AddConfigFlags(CLI::App* app) {
  const std::string group = "Configuration";
  app->add_option_function<std::string>(
         "--config", [app](const std::string& path) { ApplyConfigFile(app, path); },
         "Read options from this TOML file (key = value, keys are the long option names without "
         "'--'); "
         "options given on the command line override it")
      ->type_name("FILE")
      ->configurable(false)
      ->group(group);
  app->add_flag("--print-config")
      ->description(
          "Print the effective options (the command line over the --config file over the "
          "defaults) as a config file and exit")
      ->configurable(false)
      ->group(group);
}

bool PrintConfigIfAsked(const CLI::App& app) {
  const CLI::Option* print = app.get_option_no_throw("--print-config");
  if (print != nullptr && print->count() > 0) {
    std::cout << ConfigText(app);
    return true;
  }
  for (const CLI::App* sub : app.get_subcommands()) {
    if (PrintConfigIfAsked(*sub)) return true;
  }
  return false;
}

}  // namespace edgetrain::cli
