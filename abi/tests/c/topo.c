/* Topologies: dims_create, Cartesian shifts/coords/sub, graph and distributed graph queries. */
#include "check.h"

int main(int argc, char **argv) {
    int rank, size, dims[2] = {0, 0}, periods[2] = {1, 0}, coords[2], src, dst, r, t;
    MPI_Comm cart, row, graph, dg, parent;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_get_parent(&parent);
    CHECK(parent == MPI_COMM_NULL);
    {
        int d[3] = {0, 0, 0};
        MPI_Dims_create(12, 3, d);
        CHECK(d[0] == 3 && d[1] == 2 && d[2] == 2);
        d[0] = 0; d[1] = 3;
        MPI_Dims_create(6, 2, d);
        CHECK(d[0] == 2 && d[1] == 3);
    }
    MPI_Dims_create(size, 2, dims);
    MPI_Cart_create(MPI_COMM_WORLD, 2, dims, periods, 0, &cart);
    MPI_Topo_test(cart, &t);
    CHECK(t == MPI_CART);
    MPI_Topo_test(MPI_COMM_WORLD, &t);
    CHECK(t == MPI_UNDEFINED);
    MPI_Cart_coords(cart, rank, 2, coords);
    MPI_Cart_rank(cart, coords, &r);
    CHECK(r == rank);
    MPI_Cart_shift(cart, 0, 1, &src, &dst);
    {
        int c[2] = {(coords[0] + 1) % dims[0], coords[1]}, want;
        MPI_Cart_rank(cart, c, &want);
        CHECK(dst == want);
    }
    MPI_Cart_shift(cart, 1, 1, &src, &dst);
    if (coords[1] == dims[1] - 1) CHECK(dst == MPI_PROC_NULL);
    if (coords[1] == 0) CHECK(src == MPI_PROC_NULL);
    {
        int remain[2] = {0, 1}, n, nd;
        MPI_Cart_sub(cart, remain, &row);
        MPI_Comm_size(row, &n);
        CHECK(n == dims[1]);
        MPI_Cartdim_get(row, &nd);
        CHECK(nd == 1);
        MPI_Comm_free(&row);
    }
    { /* a ring as a graph */
        int *index = malloc(sizeof(int) * size), *edges = malloc(sizeof(int) * 2 * size), i, n, nb[2];
        for (i = 0; i < size; i++) {
            index[i] = 2 * (i + 1);
            edges[2 * i] = (i + size - 1) % size;
            edges[2 * i + 1] = (i + 1) % size;
        }
        MPI_Graph_create(MPI_COMM_WORLD, size, index, edges, 0, &graph);
        MPI_Graph_neighbors_count(graph, rank, &n);
        CHECK(n == 2);
        MPI_Graph_neighbors(graph, rank, 2, nb);
        CHECK(nb[0] == (rank + size - 1) % size && nb[1] == (rank + 1) % size);
        MPI_Comm_free(&graph);
        free(index);
        free(edges);
    }
    { /* distributed graph: each rank points at its right neighbour */
        int right = (rank + 1) % size, in, out, w, s, d;
        MPI_Dist_graph_create(MPI_COMM_WORLD, 1, &rank, (int[]){1}, &right, MPI_UNWEIGHTED, MPI_INFO_NULL, 0, &dg);
        MPI_Dist_graph_neighbors_count(dg, &in, &out, &w);
        CHECK(in == 1 && out == 1 && w == 0);
        MPI_Dist_graph_neighbors(dg, 1, &s, MPI_UNWEIGHTED, 1, &d, MPI_UNWEIGHTED);
        CHECK(s == (rank + size - 1) % size && d == right);
        MPI_Comm_free(&dg);
    }
    MPI_Comm_free(&cart);
    MPI_Finalize();
    if (rank == 0) printf("topo OK\n");
    return 0;
}
