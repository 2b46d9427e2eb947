/* SPDX-License-Identifier: MIT */
/* Noise_IK_25519_ChaChaPoly_SHA256 test vector from the public "cacophony" vector set (hex strings). */
#ifndef MEMSCAN_NOISE_VECTORS_H
#define MEMSCAN_NOISE_VECTORS_H
static const char NV_PROTOCOL[] = "Noise_IK_25519_ChaChaPoly_SHA256";
static const char NV_INIT_PROLOGUE[] = "4a6f686e2047616c74";
static const char NV_INIT_STATIC[] = "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1";
static const char NV_INIT_EPHEMERAL[] = "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a";
static const char NV_INIT_REMOTE_STATIC[] =
    "31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f701b8f62";
static const char NV_RESP_PROLOGUE[] = "4a6f686e2047616c74";
static const char NV_RESP_STATIC[] = "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893";
static const char NV_RESP_EPHEMERAL[] = "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b";
/* The final handshake hash h after message 2, as the vector set publishes it. */
static const char NV_HANDSHAKE_HASH[] = "0b0f68fb0c27e03ce9b97565995ed4838cc0581b762ef72b062f6a546419fad7";
static const struct {
	const char *payload, *ciphertext;
} NV_MESSAGES[] = {
	{ "4c756477696720766f6e204d69736573",
	  "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944718da798efbcd91528520204f904b9bd6c"
	  "7413dccdc214d951e15253e39987f18146e8cd0873654207148333479d4d16c289f0294b29960a72f48e0b7bba2e890831"
	  "69825e59642148d492020664ccf7" },
	{ "4d757272617920526f746862617264",
	  "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f1448088435361e70b2ed446e6c9ec387d1d6b3b840f"
	  "194e373979d241b203c4acafccf5" },
	{ "462e20412e20486179656b", "050e9f3c8fac16b68dbce8f8c4bfbf6617c897f9ada4aa29aa19c8" },
	{ "4361726c204d656e676572", "344233a6cabb7141d80f3da2fedc311d9646bbb0f505afe403a667" },
	{ "4a65616e2d426170746973746520536179",
	  "62cdeeb172ad7ade7aa7d9e069da5790f12331bfa00177787a1d0810c67dc3b2b4" },
	{ "457567656e2042f6686d20766f6e2042617765726b",
	  "029bead1b40992327044d409d9a1f3ad8f36c3c452775d557e18bbeb2e8dfcead32d514024" },
};
#endif
