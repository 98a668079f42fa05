#include "edgetrain/scorer.h"

#include <charconv>
#include <cmath>

#include "row_parser.h"

namespace edgetrain {
namespace {

void AppendNumber(double v, std::string* out) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

}  // namespace

Scorer::Scorer(std::shared_ptr<const Model> model) : model_(std::move(model)) {
  model_->EffectiveWeights(&w_, &b_);
  logistic_ = model_->task == Task::kClassification && model_->spec.loss == LossKind::kLogistic;
}

std::string Scorer::Header(const std::vector<std::string>& id_columns) const {
  std::string h;
  for (const std::string& c : id_columns) h += c + "\t";
  if (model_->task == Task::kRegression) return h + "prediction\n";
  return h + (logistic_ ? "label\tdecision\tprobability\n" : "label\tdecision\n");
}

void Scorer::AppendLine(double z, std::string_view tag, std::string* out) const {
  if (!tag.empty()) {
    out->append(tag);
    out->push_back('\t');
  }
  if (model_->task == Task::kRegression) {
    AppendNumber(z, out);
    out->push_back('\n');
    return;
  }
  out->append(z > 0 ? model_->labels->positive : model_->labels->negative);
  out->push_back('\t');
  AppendNumber(z, out);
  if (logistic_) {
    out->push_back('\t');
    AppendNumber(1.0 / (1.0 + std::exp(-z)), out);
  }
  out->push_back('\n');
}

ReadOptions ScoringReadOptions(const Model& model, const ReadOptions& base) {
  ReadOptions r = base;
  r.task = model.task;
  r.labels = model.labels;
  r.defer_label_map = false;
  r.min_dim = model.dim;
  r.labels_optional = true;
  if (r.label_column.empty()) r.label_column = model.label_column;
  r.feature_columns = model.feature_names;
  if (base.missing == MissingPolicy::kError) r.missing = model.missing;
  r.fill_values = r.missing == MissingPolicy::kMean ? model.fill_values : std::vector<double>();
  return r;
}

struct StreamScorer::Parser {
  std::unique_ptr<internal::RowParser> rows;
};

StreamScorer::StreamScorer(std::string source, ReadOptions base, std::shared_ptr<const Model> model)
    : source_(std::move(source)),
      base_(std::move(base)),
      scorer_(std::move(model)),
      parser_(std::make_unique<Parser>()) {}

StreamScorer::~StreamScorer() = default;

Status StreamScorer::SetModel(std::shared_ptr<const Model> model) {
  const Model& now = scorer_.model();
  if (model->task != now.task) {
    return Status::InvalidArgument(std::string("the new model is for ") + TaskName(model->task) +
                                   ", the current one for " + TaskName(now.task));
  }
  if (model->labels != now.labels) {
    return Status::InvalidArgument("the new model has other labels");
  }
  if (model->feature_names != now.feature_names) {
    return Status::InvalidArgument("the new model has other feature columns");
  }
  if (parser_->rows != nullptr && base_.format == DataFormat::kCsv &&
      parser_->rows->header().empty()) {
    parser_->rows.reset();  // nothing but blank lines so far: start afresh with the new model
  }
  if (parser_->rows != nullptr) {
    const ReadOptions before = ScoringReadOptions(now, base_);
    const ReadOptions after = ScoringReadOptions(*model, base_);
    if (after.missing != before.missing || after.fill_values != before.fill_values ||
        after.label_column != before.label_column) {
      // Another way to read the rows: a new parser that continues where this one is.
      const DataFormat format = after.format;
      std::unique_ptr<internal::RowParser> next = internal::NewParser(format, source_, after);
      if (format == DataFormat::kCsv) {
        EDGETRAIN_RETURN_IF_ERROR(next->SetHeader(parser_->rows->header()));
      }
      next->set_line(parser_->rows->line());
      parser_->rows = std::move(next);
    }
  }
  scorer_ = Scorer(std::move(model));
  return Status::Ok();
}

Status StreamScorer::ParseAndScore(std::string_view lines, std::string* out) {
  if (parser_->rows == nullptr) {
    ReadOptions read = ScoringReadOptions(scorer_.model(), base_);
    if (read.format == DataFormat::kAuto) read.format = SniffFormat(lines);
    base_.format = read.format;
    parser_->rows = internal::NewParser(read.format, source_, read);
  }
  internal::RowParser& p = *parser_->rows;
  EDGETRAIN_RETURN_IF_ERROR(p.ParseChunk(lines));
  const int64_t n = p.rows();
  for (int64_t i = 0; i < n; ++i) scorer_.AppendLine(scorer_.Decision(p.Row(i)), p.Tag(i), out);
  rows_ += n;
  p.ClearRows();
  return Status::Ok();
}

Status StreamScorer::Feed(std::string_view bytes, std::string* out) {
  const size_t last_nl = bytes.rfind('\n');
  if (last_nl == std::string_view::npos) {
    pending_.append(bytes);
    return Status::Ok();
  }
  std::string_view complete = bytes.substr(0, last_nl + 1);
  if (!pending_.empty()) {
    // Finish the pending line first, then the rest in place.
    const size_t first_nl = complete.find('\n');
    pending_.append(complete.substr(0, first_nl + 1));
    EDGETRAIN_RETURN_IF_ERROR(ParseAndScore(pending_, out));
    pending_.clear();
    complete.remove_prefix(first_nl + 1);
  }
  if (!complete.empty()) EDGETRAIN_RETURN_IF_ERROR(ParseAndScore(complete, out));
  pending_.append(bytes.substr(last_nl + 1));
  return Status::Ok();
}

Status StreamScorer::Finish(std::string* out) {
  if (pending_.empty()) return Status::Ok();
  std::string last;
  last.swap(pending_);
  return ParseAndScore(last, out);
}

}  // namespace edgetrain
