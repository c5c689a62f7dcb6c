#pragma once
int puts(const char* s);
