// `hubgate cache ls|stats|prefetch|pin|unpin|rm|verify|gc|jobs|cancel`: the operator's cache
// commands. They talk to a running gateway's admin API (router/admin.h), so that the one process
// that owns the cache stays its only writer; the command-line parsing lives in main.cc.
//
// Long operations (prefetch, verify, gc) start a job and, unless --no-wait, follow it, printing
// a progress line whenever it changes, until it ends.
//
// Exit status: 0 on success (a followed job ended "done"); 1 when the gateway refused or the job
// failed or was cancelled; 2 when the gateway cannot be reached or answered something unreadable.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace hubgate::cli {

struct CacheCommandArgs {
  std::string url;        // admin base URL, "http://host:port"
  std::string admin_key;  // sent as Authorization: Bearer
  std::string command;    // ls | stats | prefetch | pin | unpin | rm | verify | gc | jobs | cancel
  std::string type = "model";
  std::string repo;
  std::string revision = "main";
  std::vector<std::string> include, exclude;
  bool pin = false;
  std::string credential;
  std::string blob;    // rm --blob
  std::string job_id;  // cancel
  bool json = false;
  bool no_wait = false;
  int poll_ms = 500;
};

int runCacheCommand(const CacheCommandArgs& args, std::FILE* out, std::FILE* err);

}  // namespace hubgate::cli
