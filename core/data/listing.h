#pragma once
// Listing the files of a dataset, in one place for every reader in core/data.
//
// Hidden entries (a name starting with '.') are skipped wherever data is listed. Tools
// leave them beside data: Jupyter's .ipynb_checkpoints/, macOS's .DS_Store and ._name.png
// copies, .git/, editors' swap files. Taken for a class folder or a document, one changes
// the dataset without a word (an image folder gains a class; a corpus a document). A
// hidden file or folder the user names explicitly (a root, a file, a glob's literal '.')
// is still read; glob(3)'s wildcards never match a leading '.' either.

#include <filesystem>
#include <string>
#include <vector>

namespace strata::data {

// True when the file name of `p` starts with '.'.
bool is_hidden(const std::filesystem::path& p);

enum class Entries { kFiles, kDirectories };

// The regular files (or the directories) directly in `dir` that are not hidden, sorted by
// name; symbolic links are followed. A directory that cannot be read is an InputError
// "<what> <dir> cannot be read: <reason>".
std::vector<std::filesystem::path> list_entries(const std::filesystem::path& dir, Entries kind,
                                                const std::string& what);

// Every regular file below `dir` at any depth that is not hidden and not inside a hidden
// directory, sorted by path. Errors as list_entries.
std::vector<std::filesystem::path> files_below(const std::filesystem::path& dir,
                                               const std::string& what);

}  // namespace strata::data
