// Stand-ins for a file (Git LFS and git-annex pointers, HTML and XML pages, archives) are
// named for what they are, and real files of Strata's formats are never taken for one.

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "core/errors.h"
#include "core/sniff.h"
#include "tests/support/temp_dir.h"

using strata::describe_impostor;
using strata::describe_impostor_file;
using strata::describe_pointer;

namespace {

const char* kLfsPointer =
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    "size 12345\n";

}  // namespace

TEST_CASE("sniff: pointers and pages are named for what they are", "[sniff]") {
  CHECK(describe_impostor(kLfsPointer, "a safetensors file") ==
        "a Git LFS pointer, not the file itself; run `git lfs pull`");
  CHECK(describe_impostor("/annex/objects/SHA256E-s12--abc.safetensors\n", "x") ==
        "a git-annex pointer, not the file itself; run `git annex get`");
  CHECK(describe_impostor("<!DOCTYPE html>\n<html>", "a safetensors file") ==
        "an HTML page, not a safetensors file");
  // Pages start in many ways: a byte order mark, blank lines, lower case, a bare <html>.
  CHECK(describe_impostor("\xEF\xBB\xBF\n  <!doctype HTML><title>x", "a token shard") ==
        "an HTML page, not a token shard");
  CHECK(describe_impostor("<html lang=\"en\">", "x") == "an HTML page, not x");
  CHECK(describe_impostor("<head>", "x") == "an HTML page, not x");
  CHECK(describe_impostor("<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code>", "x") ==
        "an XML document, not x");
  CHECK(describe_impostor(std::string("PK\x03\x04\x14\x00\x00\x00", 8), "x") ==
        "a zip archive, not x");
  CHECK(describe_impostor("", "a SentencePiece model") ==
        "an empty file, not a SentencePiece model");
  CHECK(describe_pointer(kLfsPointer) != "");
  CHECK(describe_pointer("<html>") == "");  // a page may be a document of a text corpus
}

TEST_CASE("sniff: real files of Strata's formats are not taken for stand-ins", "[sniff]") {
  // A safetensors header length, a gzip stream, a SentencePiece protobuf, raw tokens.
  CHECK(describe_impostor(std::string("\x58\x00\x00\x00\x00\x00\x00\x00{\"a\":", 13), "x") == "");
  CHECK(describe_impostor(std::string("\x1f\x8b\x08\x00", 4), "x") == "");
  CHECK(describe_impostor(std::string("\x0a\x0b\x0a\x05<unk>", 9), "x") == "");
  CHECK(describe_impostor(std::string("\x01\x00\x3c\x00\x68\x00", 6), "x") == "");
  CHECK(describe_impostor("<htmlish", "x") == "");
  CHECK(describe_impostor("version 2 of the format", "x") == "");
}

TEST_CASE("sniff: files, and a dangling git-annex link", "[sniff]") {
  strata::testing::TempDir dir("sniff");
  const auto pointer = dir.write("model.safetensors", kLfsPointer);
  CHECK_THROWS_WITH(strata::refuse_impostor(pointer, "a safetensors file"),
                    pointer + ": a Git LFS pointer, not the file itself; run `git lfs pull`");
  const auto annexed = dir.file("tokenizer.model");
  std::filesystem::create_symlink(
      "../.git/annex/objects/Xx/Yy/SHA256E-s1--ab.model/SHA256E-s1--ab.model", annexed);
  CHECK(describe_impostor_file(annexed, "a SentencePiece model") ==
        "a git-annex pointer, not the file itself; run `git annex get`");
  // What cannot be read, or is not a file, is left to the reader to report.
  CHECK(describe_impostor_file(dir.file("absent"), "x") == "");
  CHECK(describe_impostor_file(dir.path, "x") == "");
  CHECK_NOTHROW(strata::refuse_impostor(dir.write("ok.bin", std::string("\x1f\x8b", 2)), "x"));
}
