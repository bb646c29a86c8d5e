// Each primitive family registers its functions on the module's exports.
#pragma once

#include <napi.h>

void InitMemory(Napi::Env env, Napi::Object exports);
void InitLocks(Napi::Env env, Napi::Object exports);
void InitTap(Napi::Env env, Napi::Object exports);
void InitPoll(Napi::Env env, Napi::Object exports);
void InitTermios(Napi::Env env, Napi::Object exports);
void InitProcess(Napi::Env env, Napi::Object exports);
