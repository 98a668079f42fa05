// edgetrain-agent inspect: read a data file as training would, report what was found (or the
// first error with its place), and how long loading took.
#include <chrono>
#include <cinttypes>

#include "commands.h"
#include "edgetrain/cli/flags.h"
#include "edgetrain/readers.h"
#include "edgetrain/text.h"

namespace edgetrain::agent {
namespace {

class InspectCommand : public Command {
 public:
  explicit InspectCommand(CLI::App* app) {
    sub_ = app->add_subcommand("inspect",
                               "Check a data file: rows, features, non-zeros, labels, load time");
    sub_->add_option("--data", path_, "Data file (libsvm/svmlight, or CSV with a header)")
        ->required()
        ->check(cli::kDataSource);
    cli::AddDataFlags(sub_, &data_);
  }

  bool Selected() const override { return sub_->parsed(); }

  int Run(const cli::Console& console) override {
    const auto t0 = std::chrono::steady_clock::now();
    Result<Dataset> data = ReadDataFile(path_, data_.ToReadOptions());
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!data.ok()) return console.Fail("edgetrain-agent inspect", data.status());
    const auto line = [&](const std::string& text) { console.Write(cli::Priority::kNotice, text); };
    line("file " + (path_ == "-" ? std::string("stdin") : Printable(path_)));
    line(std::string("format ") + (data->feature_names().empty() ? "libsvm" : "csv"));
    line(StringPrintf("rows %" PRId64, data->rows()));
    line(StringPrintf("features %d", data->dim()));
    line(StringPrintf("non-zeros %" PRId64, data->nnz()));
    line(StringPrintf("bytes in memory %" PRId64, data->MemoryBytes()));
    if (data->labels()) {
      int64_t positive = 0;
      for (double y : data->y()) positive += (y > 0);
      line(StringPrintf("labels '%s' -> -1 (%" PRId64 " rows), '%s' -> +1 (%" PRId64 " rows)",
                        Printable(data->labels()->negative).c_str(), data->rows() - positive,
                        Printable(data->labels()->positive).c_str(), positive));
    }
    const MissingSummary& missing = data->missing();
    if (missing.cells > 0 || missing.skipped_rows > 0) {
      line(StringPrintf("missing cells filled %" PRId64 ", rows skipped %" PRId64 " (--missing %s)",
                        missing.cells, missing.skipped_rows, data_.missing.c_str()));
    }
    line(StringPrintf("load seconds %.3f", seconds));
    return cli::kExitOk;
  }

 private:
  CLI::App* sub_;
  std::string path_;
  cli::DataFlags data_;
};

}  // namespace

std::unique_ptr<Command> RegisterInspect(CLI::App* app) {
  return std::make_unique<InspectCommand>(app);
}

}  // namespace edgetrain::agent
