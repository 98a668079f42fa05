// Smooth losses phi(z, y) of the margin z = a.x + b and the target y.
//
//   logistic       phi = log(1 + exp(-y z))        phi' = -y / (1 + exp(y z))     phi'' <= 1/4
//   squared        phi = (z - y)^2 / 2             phi' = z - y                   phi'' =  1
//   squared hinge  phi = max(0, 1 - y z)^2         phi' = -2 y max(0, 1 - y z)    phi'' <= 2
//
// y is -1/+1 for logistic and squared hinge (liblinear's L2-loss SVM, -s 5), real for squared.
// Conjugate is phi*(theta, y) = sup_z theta z - phi(z, y), for the duality gap (duality.h); with
// alpha = -y theta: logistic alpha log alpha + (1 - alpha) log(1 - alpha) on [0, 1], squared
// theta^2 / 2 + theta y, squared hinge alpha^2 / 4 - alpha for alpha >= 0 (+inf elsewhere).
// The curvature bound c gives the per-row smoothness constant L_i = c ||a_i||^2 (the norm of the
// row including the constant 1 when the model has an intercept). SecondDeriv is phi'' (for the
// squared hinge the generalised one, 2 where 1 - y z > 0, as liblinear's Newton uses): the
// Newton epochs' Hessian weights (support_newton.h).
//
// The loss structs are stateless and inline so the inner loops can be instantiated per loss
// (DispatchLoss) instead of calling through a pointer. Thread-safety: pure functions.
#ifndef EDGETRAIN_LOSS_H_
#define EDGETRAIN_LOSS_H_

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace edgetrain {

enum class LossKind : uint8_t { kLogistic = 0, kSquared = 1, kSquaredHinge = 2 };

const char* LossName(LossKind kind);  // "logistic", "squared", "squared-hinge"
std::optional<LossKind> ParseLossName(std::string_view name);  // inverse of LossName

struct LogisticLoss {
  static constexpr LossKind kKind = LossKind::kLogistic;
  static constexpr double kCurvature = 0.25;
  static double Value(double z, double y) {
    const double t = -y * z;  // log(1 + e^t), stable for both signs of t
    return t > 0 ? t + std::log1p(std::exp(-t)) : std::log1p(std::exp(t));
  }
  static double Deriv(double z, double y) { return -y / (1.0 + std::exp(y * z)); }
  static double SecondDeriv(double z, double y) {
    const double s = 1.0 / (1.0 + std::exp(-y * z));
    return s * (1.0 - s);
  }
  static double Conjugate(double theta, double y) {
    const double alpha = -y * theta;
    if (!(alpha >= 0 && alpha <= 1)) return std::numeric_limits<double>::infinity();
    return (alpha > 0 ? alpha * std::log(alpha) : 0.0) +
           (alpha < 1 ? (1 - alpha) * std::log1p(-alpha) : 0.0);
  }
};

struct SquaredLoss {
  static constexpr LossKind kKind = LossKind::kSquared;
  static constexpr double kCurvature = 1.0;
  static double Value(double z, double y) { return 0.5 * (z - y) * (z - y); }
  static double Deriv(double z, double y) { return z - y; }
  static double SecondDeriv(double, double) { return 1.0; }
  static double Conjugate(double theta, double y) { return 0.5 * theta * theta + theta * y; }
};

struct SquaredHingeLoss {
  static constexpr LossKind kKind = LossKind::kSquaredHinge;
  static constexpr double kCurvature = 2.0;
  static double Value(double z, double y) {
    const double m = 1.0 - y * z;
    return m > 0 ? m * m : 0.0;
  }
  static double Deriv(double z, double y) {
    const double m = 1.0 - y * z;
    return m > 0 ? -2.0 * y * m : 0.0;
  }
  static double SecondDeriv(double z, double y) { return 1.0 - y * z > 0 ? 2.0 : 0.0; }
  static double Conjugate(double theta, double y) {
    const double alpha = -y * theta;
    return alpha >= 0 ? 0.25 * alpha * alpha - alpha : std::numeric_limits<double>::infinity();
  }
};

// Calls f(LossStruct{}) for the loss `kind`, so f can be a generic lambda instantiated per loss.
template <typename F>
decltype(auto) DispatchLoss(LossKind kind, F&& f) {
  switch (kind) {
    case LossKind::kSquared:
      return f(SquaredLoss{});
    case LossKind::kSquaredHinge:
      return f(SquaredHingeLoss{});
    case LossKind::kLogistic:
      break;
  }
  return f(LogisticLoss{});
}

inline double LossValue(LossKind kind, double z, double y) {
  return DispatchLoss(kind, [&](auto loss) { return decltype(loss)::Value(z, y); });
}
inline double LossDeriv(LossKind kind, double z, double y) {
  return DispatchLoss(kind, [&](auto loss) { return decltype(loss)::Deriv(z, y); });
}
inline double LossSecondDeriv(LossKind kind, double z, double y) {
  return DispatchLoss(kind, [&](auto loss) { return decltype(loss)::SecondDeriv(z, y); });
}
inline double LossConjugate(LossKind kind, double theta, double y) {
  return DispatchLoss(kind, [&](auto loss) { return decltype(loss)::Conjugate(theta, y); });
}
inline double LossCurvature(LossKind kind) {
  return DispatchLoss(kind, [](auto loss) { return decltype(loss)::kCurvature; });
}

}  // namespace edgetrain

#endif  // EDGETRAIN_LOSS_H_
