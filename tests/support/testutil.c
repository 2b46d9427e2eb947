/* placeholder */
#include "testutil.h"
