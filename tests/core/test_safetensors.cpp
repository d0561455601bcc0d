// LibTorch first: its glog defines a CHECK macro that Catch's must replace.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/errors.h"
#include "core/safetensors.h"
#include "core/safetensors_layout.h"
#include "tests/support/temp_dir.h"

namespace fs = std::filesystem;
using strata::InputError;
using strata::NamedTensors;
using strata::read_safetensors;
using strata::write_safetensors;

namespace {

// Every test gets a fresh directory, removed with everything in it.
struct TempDir : strata::testing::TempDir {
  TempDir() : strata::testing::TempDir("safetensors") {}
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A file with the given header text (padded as the reference pads it) and data bytes.
void write_raw(const std::string& path, std::string header, const std::string& data) {
  header.append((8 - header.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(static_cast<char>(n >> (8 * i)));
  out << header << data;
}

// The message read_safetensors throws for `path`, or "" when it throws nothing.
std::string read_error(const std::string& path) {
  try {
    read_safetensors(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// bfloat16 from float32 by dropping the low 16 bits, as the fixture script makes them.
torch::Tensor bf16_truncated(std::vector<float> values, std::vector<int64_t> shape) {
  auto bits = torch::empty({static_cast<int64_t>(values.size())}, torch::kShort);
  for (size_t i = 0; i < values.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &values[i], 4);
    const uint16_t high = static_cast<uint16_t>(u >> 16);
    std::memcpy(bits.data_ptr<int16_t>() + i, &high, 2);
  }
  return bits.view(torch::kBFloat16).reshape(shape);
}

// The tensors that tests/assets/make_safetensors_fixture.py writes, built here on their own.
NamedTensors fixture_tensors() {
  return {
      {"mask", torch::tensor({true, false, true}, torch::kBool)},
      {"half", torch::tensor({0.5f, -1.25f, 65504.0f, 6.103515625e-05f}).to(torch::kHalf)},
      {"fc.weight", torch::tensor({0.0f, 1.5f, -2.25f, 0.1f, -1e-3f, 3.0e38f}).reshape({2, 3})},
      {"ids", torch::tensor(std::vector<int64_t>{0, -1, (int64_t{1} << 40) + 7,
                                                 -(int64_t{1} << 62), INT64_MAX})},
      {"emb.bf16", bf16_truncated({1.0f, -2.5f, 3.14159265f, 0.1f}, {2, 2})},
      {"steps", torch::tensor(std::vector<int32_t>{7, -7}, torch::kInt)},
      {"scalar", torch::tensor(42.0f)},
      {"fc.bias", torch::tensor({-1.0f, 0.5f, 2.0f})},
  };
}

const std::map<std::string, std::string> kFixtureMetadata = {
    {"format", "pt"}, {"source", "make_safetensors_fixture.py"}};

bool same(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  auto ca = a.contiguous(), cb = b.contiguous();
  return ca.nbytes() == cb.nbytes() &&
         (ca.nbytes() == 0 || std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.nbytes()) == 0);
}

}  // namespace

TEST_CASE("safetensors round trip keeps dtype, shape and bits", "[safetensors]") {
  TempDir tmp;
  torch::manual_seed(0);
  NamedTensors tensors = {
      {"f32", torch::randn({3, 5})},
      {"f16", torch::randn({4, 2}).to(torch::kHalf)},
      {"bf16", torch::randn({7}).to(torch::kBFloat16)},
      {"i64", torch::randint(-1000000, 1000000, {2, 3}, torch::kLong)},
      {"f64", torch::randn({2}, torch::kDouble)},
      {"i32", torch::randint(-100, 100, {3}, torch::kInt)},
      {"i16", torch::randint(-100, 100, {3}, torch::kShort)},
      {"i8", torch::randint(-100, 100, {3}, torch::kChar)},
      {"u8", torch::randint(0, 255, {3}, torch::kByte)},
      {"bool", torch::tensor({true, false})},
      {"scalar", torch::tensor(3.5)},                             // 0-dim
      {"empty", torch::zeros({0, 4})},                            // no bytes
      {"transposed", torch::arange(12).reshape({3, 4}).t()},      // not contiguous
      {"strided", torch::arange(20, torch::kFloat).slice(0, 0, 20, 3)},
  };
  REQUIRE_FALSE(tensors[12].second.is_contiguous());
  const std::map<std::string, std::string> metadata = {{"format", "pt"}, {"step", "12"}};
  write_safetensors(tmp.file("a.safetensors"), tensors, metadata);

  auto file = read_safetensors(tmp.file("a.safetensors"));
  CHECK(file.metadata == metadata);
  REQUIRE(file.tensors.size() == tensors.size());
  for (const auto& [name, expected] : tensors) {
    INFO(name);
    CHECK(same(file.get(name), expected));
  }
  CHECK(file.get("scalar").dim() == 0);
  CHECK(file.get("transposed").sizes() == torch::IntArrayRef({4, 3}));
  CHECK_THROWS_AS(file.get("absent"), InputError);
}

TEST_CASE("safetensors reads an independently written fixture", "[safetensors]") {
  const std::string path = STRATA_SOURCE_DIR "/tests/assets/fixture.safetensors";
  auto file = read_safetensors(path);
  CHECK(file.metadata == kFixtureMetadata);

  // File order is the reference writer's: descending alignment, then name.
  std::vector<std::string> names;
  for (const auto& [name, t] : file.tensors) names.push_back(name);
  CHECK(names == std::vector<std::string>{"ids", "fc.bias", "fc.weight", "scalar", "steps",
                                          "emb.bf16", "half", "mask"});

  auto w = file.get("fc.weight");
  REQUIRE(w.scalar_type() == torch::kFloat);
  REQUIRE(w.sizes() == torch::IntArrayRef({2, 3}));
  const float* wp = w.data_ptr<float>();
  CHECK(wp[0] == 0.0f);
  CHECK(wp[1] == 1.5f);
  CHECK(wp[2] == -2.25f);
  CHECK(wp[3] == 0.1f);
  CHECK(wp[4] == -1e-3f);
  CHECK(wp[5] == 3.0e38f);

  auto b = file.get("fc.bias");
  CHECK(std::vector<float>(b.data_ptr<float>(), b.data_ptr<float>() + 3) ==
        std::vector<float>{-1.0f, 0.5f, 2.0f});

  auto s = file.get("scalar");
  CHECK(s.dim() == 0);
  CHECK(s.item<float>() == 42.0f);

  auto h = file.get("half");
  REQUIRE(h.scalar_type() == torch::kHalf);
  auto hf = h.to(torch::kFloat);
  CHECK(std::vector<float>(hf.data_ptr<float>(), hf.data_ptr<float>() + 4) ==
        std::vector<float>{0.5f, -1.25f, 65504.0f, 6.103515625e-05f});

  auto bf = file.get("emb.bf16");
  REQUIRE(bf.scalar_type() == torch::kBFloat16);
  REQUIRE(bf.sizes() == torch::IntArrayRef({2, 2}));
  auto bff = bf.to(torch::kFloat).view(-1);
  const std::vector<float> source = {1.0f, -2.5f, 3.14159265f, 0.1f};
  for (int i = 0; i < 4; ++i) {
    uint32_t u;
    std::memcpy(&u, &source[i], 4);
    u &= 0xffff0000u;  // truncation, not rounding
    float expected;
    std::memcpy(&expected, &u, 4);
    CHECK(bff[i].item<float>() == expected);
  }
  // 0.1f is 0x3DCCCCCD: truncation keeps 0x3DCC where rounding would give 0x3DCD.
  CHECK(bff[3].item<float>() != torch::tensor(0.1f).to(torch::kBFloat16).item<float>());

  auto ids = file.get("ids");
  REQUIRE(ids.scalar_type() == torch::kLong);
  CHECK(std::vector<int64_t>(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + 5) ==
        std::vector<int64_t>{0, -1, (int64_t{1} << 40) + 7, -(int64_t{1} << 62), INT64_MAX});

  auto steps = file.get("steps");
  REQUIRE(steps.scalar_type() == torch::kInt);
  CHECK(steps[0].item<int32_t>() == 7);
  CHECK(steps[1].item<int32_t>() == -7);

  auto mask = file.get("mask");
  REQUIRE(mask.scalar_type() == torch::kBool);
  CHECK(mask[0].item<bool>());
  CHECK_FALSE(mask[1].item<bool>());
  CHECK(mask[2].item<bool>());

  for (const auto& [name, expected] : fixture_tensors()) {
    INFO(name);
    CHECK(same(file.get(name), expected));
  }
}

TEST_CASE("safetensors writer matches the fixture byte for byte", "[safetensors]") {
  TempDir tmp;
  write_safetensors(tmp.file("mine.safetensors"), fixture_tensors(), kFixtureMetadata);
  const auto mine = read_bytes(tmp.file("mine.safetensors"));
  const auto theirs = read_bytes(STRATA_SOURCE_DIR "/tests/assets/fixture.safetensors");
  REQUIRE(theirs.size() > 8);
  CHECK(mine.size() == theirs.size());
  CHECK(mine == theirs);
}

TEST_CASE("safetensors writer pads the header and aligns the data", "[safetensors]") {
  TempDir tmp;
  write_safetensors(tmp.file("a.safetensors"),
                    {{"b", torch::ones({3}, torch::kByte)}, {"d", torch::ones({2}, torch::kDouble)}});
  const auto bytes = read_bytes(tmp.file("a.safetensors"));
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  CHECK(n % 8 == 0);
  CHECK(bytes.substr(8, n).find("{\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}") == 0);
  CHECK(bytes.size() == 8 + n + 16 + 3);

  write_safetensors(tmp.file("empty.safetensors"), {});
  CHECK(read_bytes(tmp.file("empty.safetensors")) == std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  CHECK(read_safetensors(tmp.file("empty.safetensors")).tensors.empty());
}

TEST_CASE("safetensors writer refuses what it cannot store", "[safetensors]") {
  TempDir tmp;
  const auto path = tmp.file("a.safetensors");
  CHECK_THROWS(write_safetensors(path, {{"c", torch::zeros({2}, torch::kComplexFloat)}}));
  CHECK_THROWS(write_safetensors(path, {{"a", torch::zeros({2})}, {"a", torch::zeros({2})}}));
  CHECK_THROWS(write_safetensors(path, {{"__metadata__", torch::zeros({2})}}));
}

TEST_CASE("safetensors reader refuses damaged files", "[safetensors]") {
  TempDir tmp;
  const std::string f32x4 = std::string(16, '\0');
  auto check = [&](const std::string& name, const std::string& expected) {
    const auto path = tmp.file(name);
    const std::string message = read_error(path);
    INFO(message);
    CHECK(message.find(path + ": ") == 0);
    CHECK(message.find(expected) != std::string::npos);
    CHECK(message.find('\n') == std::string::npos);
  };

  SECTION("truncated data") {
    write_safetensors(tmp.file("t.safetensors"), {{"fc.weight", torch::ones({16, 16})}});
    const auto size = fs::file_size(tmp.file("t.safetensors"));
    fs::resize_file(tmp.file("t.safetensors"), size - 100);
    check("t.safetensors",
          fmt::format("truncated: tensor 'fc.weight' ends at byte {} but the file has {}", size,
                      size - 100));
  }
  SECTION("shorter than the header length field") {
    std::ofstream(tmp.file("s.safetensors")) << "abc";
    check("s.safetensors", "truncated");
  }
  SECTION("missing file") { check("none.safetensors", "no such file"); }
  SECTION("header length larger than the file") {
    write_safetensors(tmp.file("h.safetensors"), {{"a", torch::ones({4})}});
    auto bytes = read_bytes(tmp.file("h.safetensors"));
    bytes[0] = '\xff';
    bytes[1] = '\x7f';
    std::ofstream(tmp.file("h.safetensors"), std::ios::binary) << bytes;
    check("h.safetensors", "header length is 32767 bytes but the file has only");
  }
  SECTION("garbage JSON") {
    write_raw(tmp.file("g.safetensors"), "{\"a\": {\"dtype\": \n\x01garbage", f32x4);
    check("g.safetensors", "invalid JSON");
  }
  SECTION("JSON that is not an object") {
    write_raw(tmp.file("j.safetensors"), "[1, 2]", "");
    check("j.safetensors", "not an object");
  }
  SECTION("unknown dtype") {
    write_raw(tmp.file("d.safetensors"),
              R"({"a":{"dtype":"Q4","shape":[4],"data_offsets":[0,16]}})", f32x4);
    check("d.safetensors", "tensor 'a' has unknown dtype 'Q4'");
  }
  SECTION("negative dimension") {
    write_raw(tmp.file("n.safetensors"),
              R"({"a":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})", f32x4);
    check("n.safetensors", "negative dimension -4");
  }
  SECTION("offsets out of range") {
    write_raw(tmp.file("o.safetensors"),
              R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
              R"("b":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}})",
              f32x4);
    check("o.safetensors", "truncated: tensor 'b' ends at byte");
  }
  SECTION("offsets reversed") {
    write_raw(tmp.file("r.safetensors"),
              R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[16,0]}})", f32x4);
    check("r.safetensors", "before it begins");
  }
  SECTION("size mismatch") {
    write_raw(tmp.file("m.safetensors"),
              R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", f32x4);
    check("m.safetensors", "tensor 'a' has 16 bytes but dtype F32 and shape [3] need 12");
  }
  SECTION("overlapping tensors") {
    write_raw(tmp.file("v.safetensors"),
              R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
              R"("b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
              f32x4);
    check("v.safetensors", "overlaps");
  }
  SECTION("bytes that belong to no tensor") {
    write_raw(tmp.file("x.safetensors"),
              R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", f32x4);
    check("x.safetensors", "8 bytes after the last tensor");
  }
  SECTION("metadata that is not strings") {
    write_raw(tmp.file("md.safetensors"), R"({"__metadata__":{"step":12}})", "");
    check("md.safetensors", "is not a string");
  }
  SECTION("entry missing its offsets") {
    write_raw(tmp.file("e.safetensors"), R"({"a":{"dtype":"F32","shape":[4]}})", f32x4);
    check("e.safetensors", "has no \"data_offsets\"");
  }
  SECTION("a tensor named twice") {
    // nlohmann would keep the second entry, and the first's bytes would belong to no one.
    write_raw(tmp.file("2.safetensors"),
              R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
              R"("a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
              f32x4);
    check("2.safetensors", "damaged header: duplicate key 'a' in a JSON object");
  }
  SECTION("an empty file") {
    std::ofstream(tmp.file("0.safetensors"));
    check("0.safetensors", "an empty file, not a safetensors file");
  }
}

TEST_CASE("safetensors reader names a stand-in saved under the name", "[safetensors]") {
  TempDir tmp;
  const auto check = [&](const std::string& name, const std::string& text,
                         const std::string& expected) {
    const auto path = tmp.file(name);
    std::ofstream(path, std::ios::binary) << text;
    CHECK(read_error(path) == path + ": " + expected);
  };
  // Without the name, the first 8 bytes of these read as a header of ~2.3e18 bytes.
  check("lfs.safetensors",
        "version https://git-lfs.github.com/spec/v1\n"
        "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
        "size 1048576\n",
        "a Git LFS pointer, not the file itself; run `git lfs pull`");
  check("page.safetensors", "<!DOCTYPE html>\n<html><head><title>Sign in</title></head></html>\n",
        "an HTML page, not a safetensors file");
  check("s3.safetensors", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error></Error>",
        "an XML document, not a safetensors file");
  check("torch.safetensors", std::string("PK\x03\x04\x14\x00\x00\x00\x08\x00", 10),
        "a zip archive, not a safetensors file");
}

TEST_CASE("safetensors header claims are checked before anything is allocated", "[safetensors]") {
  // read_safetensors_layout reads through a callback: the largest read it asks for is the
  // largest buffer it filled. A file of 100 bytes may claim 2^62 header bytes, or a
  // tensor of 2^40 elements; neither may be read, nor allocated, before it is refused.
  std::string file(100, ' ');
  const uint64_t claim = uint64_t(1) << 62;
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>(claim >> (8 * i));
  uint64_t largest = 0;
  const strata::ReadAt read_at = [&](uint64_t offset, uint64_t n, void* out) {
    largest = std::max(largest, n);
    if (offset > file.size() || n > file.size() - offset) return false;
    std::memcpy(out, file.data() + offset, n);
    return true;
  };
  CHECK_THROWS_WITH(strata::read_safetensors_layout("big", file.size(), read_at),
                    Catch::Contains("header length is 4611686018427387904 bytes but the file "
                                    "has only 92"));
  CHECK(largest <= file.size());

  std::string header = R"({"a":{"dtype":"F32","shape":[1048576,1048576],)"
                       R"("data_offsets":[0,4398046511104]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  file.assign(8, '\0');
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>(uint64_t(header.size()) >> (8 * i));
  file += header + std::string(16, '\0');
  largest = 0;
  CHECK_THROWS_WITH(strata::read_safetensors_layout("huge", file.size(), read_at),
                    Catch::Contains("truncated: tensor 'a' ends at byte"));
  CHECK(largest <= file.size());
}
