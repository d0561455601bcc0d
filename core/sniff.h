#pragma once
// Naming a file that is not what it should be, from its first bytes.
//
// A download or a checkout often leaves a stand-in where a data or model file belongs: a
// Git LFS or git-annex pointer (the repository was cloned without its large files), or an
// HTML/XML page (a login or error page saved under the file's name). Parsed as the real
// format such a file fails with a baffling message ("a header of 2.3e18 bytes"), so every
// reader of a binary format asks here first, and readers of text formats ask here when
// their parse fails. Nothing here needs LibTorch.

#include <string>
#include <string_view>

namespace strata {

// What the first bytes `head` of a file show it to be instead of `expected` (a noun
// phrase: "a safetensors file"), as a phrase for an error message, or "" when they show
// nothing (the file may still be damaged; the reader's own checks decide). Recognised:
//   "a Git LFS pointer, not the file itself; run `git lfs pull`"
//   "a git-annex pointer, not the file itself; run `git annex get`"
//   "an HTML page, not <expected>", "an XML document, not <expected>"
//   "a zip archive, not <expected>", "an empty file, not <expected>"
// `head` needs no more than the first 512 bytes.
std::string describe_impostor(std::string_view head, const std::string& expected);

// Only the pointers of the list above ("" for anything else): for readers of text, where
// an HTML page may be a document but a pointer never is.
std::string describe_pointer(std::string_view head);

// The same as describe_impostor for the file at `path` (reads its first 512 bytes). A dangling
// symbolic link into git-annex's object store is named as a git-annex pointer. "" when the file
// cannot be read: the reader reports that itself.
std::string describe_impostor_file(const std::string& path, const std::string& expected);

// Throws InputError "<path>: <what it is>" when describe_impostor_file names something.
void refuse_impostor(const std::string& path, const std::string& expected);

}  // namespace strata
