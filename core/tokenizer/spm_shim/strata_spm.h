/* strata_spm: SentencePiece behind a plain C interface.
 *
 * Debian's libsentencepiece carries its own protobuf 3.14 and LibTorch links protobuf 3.21;
 * one process cannot link both (docs/building.md, "SentencePiece and LibTorch must not share
 * a link namespace"). This library is the only one that links SentencePiece. strata_core
 * loads it at run time into a link namespace of its own (dlmopen) and calls these
 * functions through dlsym, so only C types cross the boundary: char buffers, int arrays,
 * opaque handles.
 *
 * Memory: the library runs on its own copy of the C runtime, so every buffer it returns is
 * released with strata_spm_free_buffer, never with the caller's free().
 *
 * Errors: a function that can fail returns 0 on success. On failure it returns nonzero and,
 * when `err` is not NULL, stores a one-line message in *err (free it with
 * strata_spm_free_buffer).
 *
 * Threads: a loaded model is read-only; encode, decode and the look-ups may be called on
 * one model from several threads at once. Training runs one call at a time.
 */
#ifndef STRATA_SPM_H_
#define STRATA_SPM_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(STRATA_SPM_BUILDING)
#define STRATA_SPM_API __attribute__((visibility("default")))
#else
#define STRATA_SPM_API
#endif

/* Bumped whenever a signature below changes; the loader refuses a library that differs. */
#define STRATA_SPM_ABI_VERSION 1

typedef struct strata_spm_model strata_spm_model;

STRATA_SPM_API int strata_spm_abi_version(void);

/* Trains a model from the lines of `files` and writes <model_prefix>.model and
 * <model_prefix>.vocab. `keys`/`values` are SentencePiece trainer flags by their own names
 * (vocab_size, model_type, character_coverage, user_defined_symbols, ...), as strings.
 * Lines longer than max_sentence_length bytes are cut at whitespace (see the .cpp). */
STRATA_SPM_API int strata_spm_train(const char* const* files, int n_files, const char* model_prefix,
                                    const char* const* keys, const char* const* values,
                                    int n_options, char** err);

/* Loads a .model file. Returns NULL on failure. */
STRATA_SPM_API strata_spm_model* strata_spm_load(const char* path, char** err);
STRATA_SPM_API void strata_spm_free_model(strata_spm_model* model);

/* Text (UTF-8, `len` bytes) -> ids. *ids holds *n_ids ints (NULL when there are none). */
STRATA_SPM_API int strata_spm_encode(const strata_spm_model* model, const char* text, size_t len,
                                     int** ids, size_t* n_ids, char** err);

/* Text -> pieces, as one buffer of *n_pieces NUL-terminated strings laid end to end,
 * *size bytes in all. */
STRATA_SPM_API int strata_spm_encode_pieces(const strata_spm_model* model, const char* text,
                                            size_t len, char** pieces, size_t* size,
                                            size_t* n_pieces, char** err);

/* Ids -> text (*text is NUL-terminated, *len bytes before the NUL). Fails on an id outside
 * [0, vocab size). */
STRATA_SPM_API int strata_spm_decode(const strata_spm_model* model, const int* ids, size_t n_ids,
                                     char** text, size_t* len, char** err);

STRATA_SPM_API int strata_spm_vocab_size(const strata_spm_model* model);

/* -1 when the model has no such token. */
STRATA_SPM_API int strata_spm_unk_id(const strata_spm_model* model);
STRATA_SPM_API int strata_spm_bos_id(const strata_spm_model* model);
STRATA_SPM_API int strata_spm_eos_id(const strata_spm_model* model);
STRATA_SPM_API int strata_spm_pad_id(const strata_spm_model* model);

/* A piece unknown to the model maps to the unk id, as in SentencePiece. */
STRATA_SPM_API int strata_spm_piece_to_id(const strata_spm_model* model, const char* piece,
                                          size_t len);

/* The piece's bytes, owned by the model and valid while it is loaded; NULL when `id` is
 * out of range. */
STRATA_SPM_API const char* strata_spm_id_to_piece(const strata_spm_model* model, int id,
                                                  size_t* len);

STRATA_SPM_API void strata_spm_free_buffer(void* buffer);

#ifdef __cplusplus
}
#endif

#endif /* STRATA_SPM_H_ */
