#ifndef HARK_CLIENTS_HARK_CSV_H_
#define HARK_CLIENTS_HARK_CSV_H_

// CSV as RFC 4180 describes it, for the files spreadsheet programs open:
// fields separated by commas, records ended by CRLF; a field that holds a
// comma, a double quote, a CR or an LF is enclosed in double quotes, and a
// double quote inside it is doubled. Text is UTF-8, written as it is.

#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace hark::cli {

// The UTF-8 byte order mark. Written once at the start of a file, it makes
// spreadsheet programs (Excel in particular) read the file as UTF-8 rather
// than in the system's legacy code page; RFC 4180 readers that do not expect
// it see it as part of the first header name.
inline constexpr absl::string_view kUtf8Bom = "\xEF\xBB\xBF";

// One field, quoted when it must be.
std::string CsvField(absl::string_view value);

// One record: the fields joined by commas, then CRLF.
std::string CsvRecord(absl::Span<const std::string> fields);

}  // namespace hark::cli

#endif  // HARK_CLIENTS_HARK_CSV_H_
