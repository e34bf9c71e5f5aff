/* placeholder: being written */
typedef int zu_placeholder_cint;
