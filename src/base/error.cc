#include "base/error.h"

namespace hubgate {

std::string_view errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::NotFound: return "NotFound";
    case ErrorCode::InvalidArgument: return "InvalidArgument";
    case ErrorCode::Unauthorized: return "Unauthorized";
    case ErrorCode::Forbidden: return "Forbidden";
    case ErrorCode::Unavailable: return "Unavailable";
    case ErrorCode::Timeout: return "Timeout";
    case ErrorCode::Cancelled: return "Cancelled";
    case ErrorCode::Corruption: return "Corruption";
    case ErrorCode::PolicyDenied: return "PolicyDenied";
    case ErrorCode::ScanRejected: return "ScanRejected";
    case ErrorCode::ResourceExhausted: return "ResourceExhausted";
    case ErrorCode::NoSpace: return "NoSpace";
    case ErrorCode::Internal: return "Internal";
  }
  return "Internal";
}

int httpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::NotFound: return 404;
    case ErrorCode::InvalidArgument: return 400;
    case ErrorCode::Unauthorized: return 401;
    case ErrorCode::Forbidden: return 403;
    case ErrorCode::PolicyDenied: return 403;
    case ErrorCode::ScanRejected: return 403;
    case ErrorCode::Unavailable: return 502;
    case ErrorCode::Timeout: return 504;
    case ErrorCode::Cancelled: return 499;
    case ErrorCode::Corruption: return 502;
    case ErrorCode::ResourceExhausted: return 503;
    case ErrorCode::NoSpace: return 507;
    case ErrorCode::Internal: return 500;
  }
  return 500;
}

}  // namespace hubgate
