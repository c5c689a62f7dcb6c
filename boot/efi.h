/* The few UEFI definitions the shim uses (UEFI spec 2.x, AArch64: UINTN is 64-bit,
   calls follow AAPCS64). Only what efi_main needs: memory map, pages, exit. */
#pragma once
#include <stdint.h>

typedef uint64_t UINTN;
typedef uint64_t EFI_STATUS;
typedef void* EFI_HANDLE;
typedef uint64_t EFI_PHYSICAL_ADDRESS;

#define EFI_SUCCESS 0
#define EFI_BUFFER_TOO_SMALL (0x8000000000000000ULL | 5)

enum { AllocateAnyPages = 0, AllocateMaxAddress = 1, AllocateAddress = 2 };
enum { EfiLoaderData = 2, EfiConventionalMemory = 7, EfiMemoryMappedIO = 11, EfiMemoryMappedIOPortSpace = 12 };
#define EFI_MEMORY_WB 0x8ULL /* Attribute: the range can be mapped write-back, i.e. it is RAM */

typedef struct {
  uint32_t Type;
  uint32_t Pad;
  EFI_PHYSICAL_ADDRESS PhysicalStart;
  uint64_t VirtualStart;
  uint64_t NumberOfPages;
  uint64_t Attribute;
} EFI_MEMORY_DESCRIPTOR;

typedef struct {
  uint64_t Signature;
  uint32_t Revision, HeaderSize, CRC32, Reserved;
} EFI_TABLE_HEADER;

typedef struct {
  EFI_TABLE_HEADER Hdr;
  void* RaiseTPL;
  void* RestoreTPL;
  EFI_STATUS (*AllocatePages)(int Type, int MemoryType, UINTN Pages, EFI_PHYSICAL_ADDRESS* Memory);
  EFI_STATUS (*FreePages)(EFI_PHYSICAL_ADDRESS Memory, UINTN Pages);
  EFI_STATUS (*GetMemoryMap)(UINTN* MapSize, EFI_MEMORY_DESCRIPTOR* Map, UINTN* MapKey,
                             UINTN* DescriptorSize, uint32_t* DescriptorVersion);
  EFI_STATUS (*AllocatePool)(int PoolType, UINTN Size, void** Buffer);
  EFI_STATUS (*FreePool)(void* Buffer);
  void *CreateEvent, *SetTimer, *WaitForEvent, *SignalEvent, *CloseEvent, *CheckEvent;
  void *InstallProtocolInterface, *ReinstallProtocolInterface, *UninstallProtocolInterface;
  void *HandleProtocol, *Reserved, *RegisterProtocolNotify, *LocateHandle, *LocateDevicePath;
  void *InstallConfigurationTable, *LoadImage, *StartImage, *Exit, *UnloadImage;
  EFI_STATUS (*ExitBootServices)(EFI_HANDLE ImageHandle, UINTN MapKey);
  void* GetNextMonotonicCount;
  void* Stall;
  EFI_STATUS (*SetWatchdogTimer)(UINTN Timeout, uint64_t WatchdogCode, UINTN DataSize, void* Data);
} EFI_BOOT_SERVICES;

typedef struct {
  EFI_TABLE_HEADER Hdr;
  uint16_t* FirmwareVendor;
  uint32_t FirmwareRevision;
  EFI_HANDLE ConsoleInHandle;
  void* ConIn;
  EFI_HANDLE ConsoleOutHandle;
  void* ConOut;
  EFI_HANDLE StandardErrorHandle;
  void* StdErr;
  void* RuntimeServices;
  EFI_BOOT_SERVICES* BootServices;
  UINTN NumberOfTableEntries;
  void* ConfigurationTable;
} EFI_SYSTEM_TABLE;
