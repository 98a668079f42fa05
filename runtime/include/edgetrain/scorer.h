// Scorer and StreamScorer: one prediction line per row, for `predict` and `score`.
//
// A prediction line is the row's id cells (ReadOptions::id_columns, tab separated), then for
// classification the predicted label, the decision value and, for logistic models, the
// probability of the positive label; for regression the prediction. Numbers are written in the
// shortest form that reads back to the same double. Header() names the columns.
//
// StreamScorer takes the bytes of a data source in pieces of any size (a pipe, a FIFO, a growing
// file) and scores every complete line as it arrives; an unfinished last line waits for its
// newline (or Finish()). SetModel() switches to another model between two rows: rows already
// fed are scored with the model that was current when they were fed, none is dropped or scored
// twice. The parser's arrays and the output buffer are reused, so a warm scorer does not
// allocate per row.
//
// Thread-safety: one thread at a time. Ownership: the scorers share the models they are given.
#ifndef EDGETRAIN_SCORER_H_
#define EDGETRAIN_SCORER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "edgetrain/dataset.h"
#include "edgetrain/model.h"
#include "edgetrain/readers.h"
#include "edgetrain/status.h"

namespace edgetrain {

class Scorer {
 public:
  explicit Scorer(std::shared_ptr<const Model> model);

  const Model& model() const { return *model_; }
  const std::shared_ptr<const Model>& shared_model() const { return model_; }
  // The header line (with its newline) for the given id columns.
  std::string Header(const std::vector<std::string>& id_columns) const;
  // decision(a) = w_eff . a + b_eff (the scaler folded in); indices >= dim are ignored.
  double Decision(const RowView& row) const {
    double z = b_;
    const int32_t d = static_cast<int32_t>(w_.size());
    for (int32_t k = 0; k < row.nnz; ++k) {
      const int32_t j = row.index[k];
      if (j < d) z += w_[j] * row.value[k];
    }
    return z;
  }
  // Appends one prediction line: `tag` (if not empty) and a tab, then the prediction.
  void AppendLine(double decision, std::string_view tag, std::string* out) const;

 private:
  std::shared_ptr<const Model> model_;
  std::vector<double> w_;
  double b_ = 0;
  bool logistic_ = false;
};

// How StreamScorer reads rows for a model: the model's task, labels, feature columns, label
// column, missing-value policy and fill values, on top of `base` (format, delimiter, id columns,
// and a label column or missing policy given by the user, which win over the model's).
ReadOptions ScoringReadOptions(const Model& model, const ReadOptions& base);

class StreamScorer {
 public:
  // `base.format` must not be kAuto unless the first bytes decide (SniffFormat on the first
  // line); `source` names the input in error messages.
  StreamScorer(std::string source, ReadOptions base, std::shared_ptr<const Model> model);
  ~StreamScorer();

  // Scores the complete lines among the bytes fed so far, appending prediction lines to *out.
  Status Feed(std::string_view bytes, std::string* out);
  // The end of the input: scores an unfinished last line.
  Status Finish(std::string* out);
  // Uses `model` from the next row on. Fails (keeping the current model) when the new model
  // cannot read the same input: another task, other labels, or other CSV feature columns.
  Status SetModel(std::shared_ptr<const Model> model);
  const Model& model() const { return scorer_.model(); }
  int64_t rows() const { return rows_; }
  // Bytes of an unfinished last line waiting for its newline.
  size_t pending_bytes() const { return pending_.size(); }
  // The header line for the output (with the id columns of `base`).
  std::string Header() const { return scorer_.Header(base_.id_columns); }

  struct Parser;

 private:
  Status ParseAndScore(std::string_view lines, std::string* out);

  std::string source_;
  ReadOptions base_;
  Scorer scorer_;
  std::unique_ptr<Parser> parser_;
  std::string pending_;  // an unfinished line
  int64_t rows_ = 0;
};

}  // namespace edgetrain

#endif  // EDGETRAIN_SCORER_H_
