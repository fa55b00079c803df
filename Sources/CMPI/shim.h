// Open MPI's C interface; the include path comes from pkg-config (ompi-c).
// MPI's predefined handles are macros over global objects, which Swift cannot import:
// these functions return them.
#include <mpi.h>

static inline MPI_Comm convnet_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype convnet_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype convnet_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Op convnet_mpi_sum(void) { return MPI_SUM; }
static inline MPI_Errhandler convnet_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline void *convnet_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Status *convnet_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
