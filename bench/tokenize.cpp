// bench_tokenize: corpus preparation throughput against SentencePiece's own `spm_encode`
// (Debian package sentencepiece) on the same corpus and the same model, in one run.
//
// Usage: bench_tokenize [corpus vocab_size threads repeats]   (default sotu 4096 0 3)
//        threads 0: every usable core. BENCH_TOKENIZER_MODEL=path reuses a model instead
//        of training one.
//
// Strata's side is the whole of prepare_corpus() with a given model: read the corpus, split
// it, tokenize every split on every core, write the uint16 shards and the manifest. The
// peer encodes the same documents (one per line, in the same order) to ids with one
// spm_encode process, which is how SentencePiece's tools are used. Each side runs `repeats`
// times, alternating, and keeps its best, so that load from other processes on a shared
// machine hits both alike. Strata on one thread is shown too, to separate the gain from
// using every core from the gain of encoding long documents in pieces
// (pretrain/chunked_encode.h: the same ids, checked below by count and in the tests).
// Throughput is corpus text MB (10^6 bytes) per second. The token counts of both sides are
// compared as a check that they did the same work.
//
// Last line: `ratio <Strata MB/s / spm_encode MB/s>`. Goal: at least 1.5 (issue 3).

#include <fmt/format.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/data/corpus.h"
#include "core/errors.h"
#include "core/run.h"
#include "pretrain/corpus_prep.h"

namespace fs = std::filesystem;
using namespace strata;

namespace {

using Clock = std::chrono::steady_clock;

std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t end = std::min(dirs.find(':', start), dirs.size());
    const fs::path candidate = fs::path(dirs.substr(start, end - start)) / name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  return "";
}

// Runs a program and waits; returns its exit status (-1 when it could not start).
int run_program(const std::vector<std::string>& argv) {
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int64_t count_ids(const std::string& path) {
  std::ifstream in(path);
  int64_t n = 0;
  std::string id;
  while (in >> id) ++n;
  return n;
}

}  // namespace

int main(int argc, char** argv) try {
  const std::string corpus_name = argc > 1 ? argv[1] : "sotu";
  const int64_t vocab = argc > 2 ? std::atoll(argv[2]) : 4096;
  const int threads = argc > 3 && std::atoi(argv[3]) > 0 ? std::atoi(argv[3]) : int(usable_cores());
  const int repeats = argc > 4 ? std::max(1, std::atoi(argv[4])) : 3;

  const std::string spm_encode = find_program("spm_encode");
  std::string work = (fs::temp_directory_path() / "strata-bench-tokenize-XXXXXX").string();
  if (mkdtemp(work.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } cleanup{work};

  const data::Corpus corpus = data::load_corpus(corpus_name);
  const double mb = double(corpus.bytes()) / 1e6;

  // The model both sides use: given, or trained once here (not timed against anyone).
  std::string model;
  if (const char* given = std::getenv("BENCH_TOKENIZER_MODEL");
      given != nullptr && *given != '\0') {
    model = given;
    fmt::print("corpus {}: {} documents, {:.2f} MB; model {}\n", corpus_name,
               corpus.documents.size(), mb, model);
  } else {
    pretrain::CorpusPrepOptions t;
    t.corpus = {corpus_name};
    t.out_dir = work + "/trained";
    t.tokenizer.vocab_size = vocab;
    t.threads = threads;
    t.verbose = false;
    const auto trained = pretrain::prepare_corpus(t);
    model = trained.tokenizer_path();
    fmt::print(
        "corpus {}: {} documents, {:.2f} MB; bpe tokenizer, vocab {}, trained on the train "
        "split in {:.1f} s\n",
        corpus_name, corpus.documents.size(), mb, vocab, trained.train_seconds);
  }

  // The peer's input: the same documents in the same order, one per line.
  const std::string text_path = work + "/corpus.txt";
  {
    std::ofstream out(text_path, std::ios::binary);
    for (const auto& d : corpus.documents) out << d.text << '\n';
  }

  pretrain::CorpusPrepOptions o;
  o.corpus = {corpus_name};
  o.out_dir = work + "/strata";
  o.tokenizer_model = model;
  o.threads = threads;
  o.force = true;
  o.verbose = false;

  pretrain::CorpusPrepOptions one = o;  // the same work on one thread, to show where the gain is
  one.threads = 1;
  one.out_dir = work + "/strata-1";

  double strata_best = 1e30, peer_best = 1e30, one_best = 1e30;
  bool in_pieces = false;
  int64_t strata_tokens = 0;
  int64_t documents = 0;
  bool peer_ok = !spm_encode.empty();
  for (int r = 0; r < repeats; ++r) {
    auto t0 = Clock::now();
    const auto prepared = pretrain::prepare_corpus(o);
    strata_best = std::min(strata_best, seconds_since(t0));
    in_pieces = prepared.manifest.info.value("encoded_in_pieces", false);
    strata_tokens = 0;
    documents = 0;
    for (const auto& [name, s] : prepared.manifest.splits) {
      strata_tokens += s.tokens;
      documents += s.documents;
    }
    if (peer_ok) {
      t0 = Clock::now();
      const int rc =
          run_program({spm_encode, "--model=" + model, "--output_format=id", "--input=" + text_path,
                       "--output=" + work + "/peer.txt", "--minloglevel=2"});
      peer_best = std::min(peer_best, seconds_since(t0));
      peer_ok = rc == 0;
    }
    t0 = Clock::now();
    pretrain::prepare_corpus(one);
    one_best = std::min(one_best, seconds_since(t0));
  }

  const double strata_mbs = mb / strata_best;
  fmt::print(
      "strata corpus prep ({} threads): {:.2f} MB/s ({:.3f} s, best of {}; documents encoded {})\n",
      threads, strata_mbs, strata_best, repeats, in_pieces ? "in ~1 KB pieces" : "whole");
  fmt::print("strata corpus prep (1 thread): {:.2f} MB/s ({:.3f} s, best of {})\n", mb / one_best,
             one_best, repeats);
  if (!peer_ok) {
    fmt::print("ratio unavailable: spm_encode {}\n",
               spm_encode.empty() ? "not found on PATH" : "failed");
    return 1;
  }
  const double peer_mbs = mb / peer_best;
  fmt::print("spm_encode (1 process): {:.2f} MB/s ({:.3f} s, best of {})\n", peer_mbs, peer_best,
             repeats);
  const int64_t peer_tokens = count_ids(work + "/peer.txt");
  fmt::print("tokens: strata {} + {} EOS, spm_encode {} ({})\n", strata_tokens - documents,
             documents, peer_tokens,
             strata_tokens - documents == peer_tokens ? "same" : "DIFFERENT");
  fmt::print("ratio {:.2f}\n", strata_mbs / peer_mbs);
  return 0;
} catch (const strata::InputError& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 2;
}
