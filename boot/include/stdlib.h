#pragma once
#include <stddef.h>
void abort(void) __attribute__((noreturn));
void* calloc(size_t n, size_t size);
void* malloc(size_t size);
void* realloc(void* p, size_t size);
void free(void* p);
