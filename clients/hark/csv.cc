#include "clients/hark/csv.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace hark::cli {

std::string CsvField(absl::string_view value) {
  if (value.find_first_of(",\"\r\n") == absl::string_view::npos) {
    return std::string(value);
  }
  return absl::StrCat("\"", absl::StrReplaceAll(value, {{"\"", "\"\""}}), "\"");
}

std::string CsvRecord(absl::Span<const std::string> fields) {
  std::string out;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) out.push_back(',');
    absl::StrAppend(&out, CsvField(fields[i]));
  }
  absl::StrAppend(&out, "\r\n");
  return out;
}

}  // namespace hark::cli
