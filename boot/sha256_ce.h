#pragma once
#include <stdint.h>
int sha256_ce_available(void);
void sha256_ce_blocks(uint32_t state[8], const uint8_t* data, uint32_t blocks);
