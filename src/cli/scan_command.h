// `hubgate scan`: scans files and directory trees with the model-file scanner (scan/scanner.h)
// and prints one result per file; the command-line parsing lives in main.cc.
//
// Directories are walked recursively; only regular files are scanned and symbolic links found
// inside a directory are neither followed nor scanned (a path given on the command line is
// followed, so a Hugging Face cache snapshot link can be named directly). Files are scanned in
// sorted path order, one at a time.
//
// Output, one line per file on `out`:
//   human:  "<path>: <verdict> (<format>)[ <first most severe finding>[ (+N more findings)]]"
//   --json: {"path","verdict","format","findings":[{"severity","rule","message","location",
//            "offset"}]} (invalid UTF-8 in paths or messages is replaced by U+FFFD)
// Diagnostics go to `err`.
//
// Exit status: 0 when every file is clean; 1 when any file is suspicious, malicious, invalid or
// could not be scanned (error), or a directory could not be read completely; 2 on usage errors
// (no path, a path that does not exist, an unreadable hash denylist, YARA rules or ClamAV
// database), in which case nothing is scanned.
//
// Not thread-safe; runs on the calling thread.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace hubgate::cli {

struct ScanCommandArgs {
  bool json = false;
  std::string denylist;  // hash denylist file (scan/signatures.h); "" = none
  std::string yara;      // YARA rules file or directory; "" = none
  std::string clamav;    // directory of custom ClamAV .hdb/.hsb/.ndb files; "" = none
  std::vector<std::string> paths;
  std::vector<std::string> profiles;  // extra pickle allowlist profiles ("hf-training", "sklearn")
};

// REQUIRES: out and err are open for writing.
int runScanCommand(const ScanCommandArgs& args, std::FILE* out, std::FILE* err);

}  // namespace hubgate::cli
